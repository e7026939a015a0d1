package fivenines.model.command;

/** Makes a one-node cluster. Accepted once, on an empty store. */
public record CreateCluster(String clusterName, String secretSha256, String nodeName,
                            String apiAddress, String raftAddress, int maxVoters) implements Command {
}
