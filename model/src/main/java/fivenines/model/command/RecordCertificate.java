package fivenines.model.command;

/**
 * Records the serial number of a node's certificate (made by the cluster's CA when it joined; recorded
 * just before the node is added). A serial the node had before is revoked, and so is the last one of a node that is removed: every
 * server refuses a revoked certificate.
 */
public record RecordCertificate(String node, String serial) implements Command {
}
