package fivenines.cli;

/**
 * Log levels before any logger exists: our own at info, Ratis and its gRPC at warn so
 * that a healthy cluster's log stays readable. NINES_LOG_LEVEL=debug shows everything.
 */
final class Logging {
    private Logging() {
    }

    static void configure() {
        String level = System.getenv().getOrDefault("NINES_LOG_LEVEL", "info");
        setDefault("org.slf4j.simpleLogger.defaultLogLevel", level);
        setDefault("org.slf4j.simpleLogger.showDateTime", "true");
        setDefault("org.slf4j.simpleLogger.dateTimeFormat", "yyyy-MM-dd'T'HH:mm:ss.SSS");
        setDefault("org.slf4j.simpleLogger.showShortLogName", "true");
        if (!level.equals("debug") && !level.equals("trace")) {
            setDefault("org.slf4j.simpleLogger.log.org.apache.ratis", "warn");
            // Ratis' ordered client logs every retried attempt at ERROR ("Failed* ... Watch(0), null")
            // while a leader is elected or the configuration changes, and then succeeds. A request that
            // finally fails reaches ClusterStore, which names the command and the cause, so these
            // per-attempt lines are only noise.
            setDefault("org.slf4j.simpleLogger.log.org.apache.ratis.client.impl.OrderedAsync", "off");
            // the same for the unordered path (linearizable reads): its gRPC client logs each failed attempt at
            // ERROR, a retry on a client that was closed meanwhile too ("client-... is already CLOSED"), where
            // the read's caller has its answer or its failure from ClusterStore already
            setDefault("org.slf4j.simpleLogger.log.org.apache.ratis.grpc.client.GrpcClientRpc", "off");
            java.util.logging.Logger.getLogger("org.apache.ratis.thirdparty").setLevel(java.util.logging.Level.WARNING);
            java.util.logging.Logger.getLogger("io.grpc").setLevel(java.util.logging.Level.WARNING);
        }
    }

    private static void setDefault(String key, String value) {
        if (System.getProperty(key) == null) {
            System.setProperty(key, value);
        }
    }
}
