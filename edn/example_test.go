package edn_test

import (
	"fmt"

	"github.com/stratadb/strata/edn"
)

// Reading transaction data, looking a value up and printing it back.
func Example() {
	v, err := edn.Parse([]byte(`[{:db/id "alice" :person/name "Alice" :person/born #inst "1985-04-12T23:20:50.52Z"}
	                             [:db/add "alice" :person/balance 10.50M]]`))
	if err != nil {
		panic(err)
	}
	tx := v.(edn.Vector)
	name, _ := tx[0].(edn.Map).Get(edn.Keyword{Namespace: "person", Name: "name"})
	fmt.Println(name)

	out, err := edn.Marshal(tx)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(out))

	_, err = edn.Parse([]byte("{:find [?e]\n :where [[?e :a \"x]]}"))
	fmt.Println(err)
	// Output:
	// Alice
	// [{:db/id "alice" :person/name "Alice" :person/born #inst "1985-04-12T23:20:50.520Z"} [:db/add "alice" :person/balance 10.50M]]
	// edn: line 2, column 22: unterminated string starting at line 2, column 17: expected '"'
}
