// LoopbackDynamoDB starts DynamoDB Local bound to 127.0.0.1 only.
//
// DynamoDB Local has no option for its listening address: it gives its
// Jetty server a port and so listens on every interface. This launcher
// builds the server as DynamoDB Local's own command line does, sets the
// host of its connectors to 127.0.0.1 before starting it, and takes the
// same arguments (-inMemory -port N ...). scripts/with-servers compiles it
// with javac against DynamoDBLocal.jar on first use.
import java.lang.reflect.Field;

import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public final class LoopbackDynamoDB {
    public static void main(String[] args) throws Exception {
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        Field f = DynamoDBProxyServer.class.getDeclaredField("server");
        f.setAccessible(true);
        Server server = (Server) f.get(proxy);
        for (Connector c : server.getConnectors()) {
            ((ServerConnector) c).setHost("127.0.0.1");
        }
        proxy.start();
        proxy.join();
    }
}
