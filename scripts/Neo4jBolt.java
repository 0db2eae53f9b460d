// Test tool, not part of aesel's distribution: starts Neo4j Community (GPL-3.0-or-later) embedded, with Bolt on
// 127.0.0.1, for aesel's store tests. Because it links Neo4j, this one file is offered under GPL-3.0-or-later.
// Usage: java Neo4jBolt DATA_DIR PORT. Prints "neo4j bolt ready ..." once the default database is available.
import java.nio.file.Path;
import java.time.Duration;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.BoltConnectorInternalSettings;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.io.ByteUnit;

public class Neo4jBolt {
  public static void main(String[] a) throws Exception {
    long t0 = System.nanoTime();
    Path home = Path.of(a.length > 0 ? a[0] : "neo4j-data").toAbsolutePath();
    int port = a.length > 1 ? Integer.parseInt(a[1]) : 7687;
    var dbms = new DatabaseManagementServiceBuilder(home)
        .setConfig(BoltConnector.enabled, true)
        .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
        .setConfig(BoltConnector.advertised_address, new SocketAddress("127.0.0.1", port))
        .setConfig(HttpConnector.enabled, false)
        .setConfig(GraphDatabaseSettings.auth_enabled, false)
        .setConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.mebiBytes(64))
        // without these two, SIGTERM takes ~12 s (two 5 s Bolt waits after the databases are already checkpointed)
        .setConfig(BoltConnectorInternalSettings.thread_pool_shutdown_wait_time, Duration.ZERO)
        .setConfig(BoltConnectorInternalSettings.connection_shutdown_wait_time, Duration.ZERO)
        .build();
    dbms.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME).isAvailable(60_000);
    Runtime.getRuntime().addShutdownHook(new Thread(dbms::shutdown));
    System.out.printf("neo4j bolt ready on 127.0.0.1:%d in %.2fs%n", port, (System.nanoTime() - t0) / 1e9);
    System.out.flush();
    Thread.currentThread().join();
  }
}
