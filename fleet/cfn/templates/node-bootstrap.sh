#!/bin/bash
# strata node bootstrap: the launch template's user data, run once by
# cloud-init on the instance's first boot. CloudFormation (Fn::Sub) fills
# the dollar-brace names; shell variables are written $NAME, never with
# braces, so that Fn::Sub leaves them alone.
set -euo pipefail
exec >>/var/log/strata-bootstrap.log 2>&1
echo "strata bootstrap: version ${Version}, group ${Group}"

token=$(curl -sf -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')
ip=$(curl -sf -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/meta-data/local-ipv4)

# The node runs as its own user, whose uid owns the EFS access point's root.
getent group strata >/dev/null || groupadd --system --gid [[.NodeUID]] strata
id strata >/dev/null 2>&1 || useradd --system --uid [[.NodeUID]] --gid strata --home-dir /var/lib/strata --shell /sbin/nologin strata
install -d -o strata -g strata -m 0750 /var/lib/strata /var/lib/strata/data /var/lib/strata/ssd /var/log/strata
install -d -m 0755 /etc/strata /mnt/strata-efs

# efs-utils mounts with TLS and IAM; the CloudWatch agent ships the node's log.
# Both come from the Amazon Linux repositories (S3, through the gateway endpoint).
for attempt in 1 2 3 4 5; do
  dnf install -y amazon-efs-utils amazon-cloudwatch-agent mdadm xfsprogs && break
  sleep $((attempt * 5))
done

# The binary: RELEASES/VERSION/linux-amd64/strata and its strata.sha256 beside it.
release="s3://${Bucket}/${ReleasePrefix}${Version}/linux-amd64"
aws s3 cp --region ${AWS::Region} --only-show-errors "$release/strata" /usr/local/bin/strata.new
aws s3 cp --region ${AWS::Region} --only-show-errors "$release/strata.sha256" /tmp/strata.sha256
echo "$(cut -d' ' -f1 /tmp/strata.sha256)  /usr/local/bin/strata.new" | sha256sum -c -
chmod 0755 /usr/local/bin/strata.new
mv /usr/local/bin/strata.new /usr/local/bin/strata

cat >/etc/strata/node.env <<ENV
STRATA_GROUP=${Group}
STRATA_REGION=${AWS::Region}
STRATA_TABLE=${Table}
STRATA_BUCKET=${Bucket}
STRATA_PREFIX=${SegmentPrefix}
STRATA_LISTEN=0.0.0.0:[[.NodePort]]
STRATA_ADVERTISE=$ip:[[.NodePort]]
STRATA_MEMORY_BYTES=${MemoryBytes}
STRATA_SSD_BYTES=${SsdBytes}
STRATA_REQUIRE_INSTANCE_STORE=${RequireInstanceStore}
STRATA_EFS=${FileSystem}
STRATA_EFS_ACCESS_POINT=${AccessPoint}
ENV

# strata-prepare runs as root before every start of the node (instance store
# is blank after a stop and start): it formats and mounts the instance-store
# NVMe for the SSD tier, sizes the tier to 90% of it, and mounts EFS.
cat >/usr/local/sbin/strata-prepare <<'PREPARE'
#!/bin/bash
set -euo pipefail
. /etc/strata/node.env
ssd=/var/lib/strata/ssd
if ! mountpoint -q $ssd; then
  devs=""
  for d in /sys/block/nvme*n1; do
    [ -e "$d" ] || continue
    case "$(cat $d/device/model 2>/dev/null)" in
      *"Instance Storage"*) devs="$devs /dev/$(basename $d)" ;;
    esac
  done
  n=$(echo $devs | wc -w)
  if [ "$n" -eq 0 ]; then
    if [ "$STRATA_REQUIRE_INSTANCE_STORE" = true ]; then
      echo "strata-prepare: no instance-store NVMe on this instance type" >&2
      exit 1
    fi
  else
    dev=$devs
    if [ "$n" -gt 1 ]; then
      [ -e /dev/md0 ] || mdadm --create /dev/md0 --run --level=0 --raid-devices=$n $devs
      dev=/dev/md0
    fi
    blkid $dev >/dev/null 2>&1 || mkfs.xfs -f -K $dev
    mount -o noatime $dev $ssd
    chown strata:strata $ssd
    chmod 0750 $ssd
    size=$(df --output=size -B1 $ssd | tail -n 1)
    sed -i "s/^STRATA_SSD_BYTES=.*/STRATA_SSD_BYTES=$((size / 10 * 9))/" /etc/strata/node.env
  fi
fi
if ! mountpoint -q /mnt/strata-efs; then
  for attempt in 1 2 3 4 5 6; do
    mount -t efs -o tls,iam,accesspoint=$STRATA_EFS_ACCESS_POINT $STRATA_EFS:/ /mnt/strata-efs && break
    sleep $((attempt * 5))
  done
  mountpoint -q /mnt/strata-efs
fi
PREPARE
chmod 0755 /usr/local/sbin/strata-prepare

cat >/etc/systemd/system/strata.service <<'UNIT'
[Unit]
Description=strata node
Wants=network-online.target
After=network-online.target

[Service]
User=strata
Group=strata
EnvironmentFile=/etc/strata/node.env
ExecStartPre=+/usr/local/sbin/strata-prepare
ExecStart=/usr/local/bin/strata node --group $STRATA_GROUP --region $STRATA_REGION --dynamodb-table $STRATA_TABLE --s3-bucket $STRATA_BUCKET --s3-prefix $STRATA_PREFIX --efs-path /mnt/strata-efs --ssd-path /var/lib/strata/ssd --ssd-bytes $STRATA_SSD_BYTES --memory-bytes $STRATA_MEMORY_BYTES --data /var/lib/strata/data --listen $STRATA_LISTEN --advertise $STRATA_ADVERTISE
Restart=always
RestartSec=2
TimeoutStopSec=90
LimitNOFILE=1048576
LimitMEMLOCK=infinity
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
ReadWritePaths=/var/lib/strata /mnt/strata-efs /var/log/strata
StandardOutput=append:/var/log/strata/node.log
StandardError=append:/var/log/strata/node.log

[Install]
WantedBy=multi-user.target
UNIT

cat >/opt/aws/amazon-cloudwatch-agent/etc/strata.json <<'AGENT'
{"logs": {"logs_collected": {"files": {"collect_list": [
  {"file_path": "/var/log/strata/node.log", "log_group_name": "${LogGroup}", "log_stream_name": "{instance_id}/node"},
  {"file_path": "/var/log/strata-bootstrap.log", "log_group_name": "${LogGroup}", "log_stream_name": "{instance_id}/bootstrap"}
]}}}}
AGENT
/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s \
  -c file:/opt/aws/amazon-cloudwatch-agent/etc/strata.json || echo "strata bootstrap: the CloudWatch agent did not start; logs stay on the instance"

systemctl daemon-reload
systemctl enable --now strata.service
echo "strata bootstrap: started; the load balancer adds this node once GET /ready answers 200"
