"""The other MQTT brokers the agent is tried against, besides Mosquitto (broker.Broker): each on
free 127.0.0.1 ports, all its state in the work directory it is given, nothing system-wide (no
service, no /etc or /var/lib, no fixed port, not the system's epmd). Their interface is Broker's:
start(timeout) returns self once a QoS 1 message has made a round trip; stop(); log_text();
`port`, `running`. Debian packages: nats-server, rabbitmq-server, ejabberd.

    nats        NatsCluster, NatsNode: nats-server nodes with JetStream and MQTT, clustered
    rabbitmq    RabbitMQ: rabbitmq-server with rabbitmq_mqtt
    ejabberd    Ejabberd: ejabberd with mod_mqtt
    erlang      Epmd (a private port mapper), node_name, end_process
    readiness   connect_answer (a raw CONNECT), wait_accepted, round_trip

What each does differently (measured; details in each class's docstring):

                       NATS 2.9.10           RabbitMQ 3.10.8          ejabberd 23.01
    start              3-6 s (3 nodes)       13-20 s (7 s restart)    2-4 s
    MQTT 5 CONNECT     CONNACK 1, closed     closed, no CONNACK       accepted
    QoS 2              closes / granted 1    delivered at QoS 1       yes
    retained to a/#    yes                   no (exact topic only)    yes
    PUBLISH to $x/...  delivered, also to #  delivered, also to #     dropped (v5 PUBACK 0x90)
    bad credentials    CONNACK 5             CONNACK 4                CONNACK 5 / 0x87
"""

from .ejabberd import Ejabberd
from .nats import NatsCluster, NatsNode
from .rabbitmq import RabbitMQ

__all__ = ["Ejabberd", "NatsCluster", "NatsNode", "RabbitMQ"]
