package fivenines.store;

import javax.net.ssl.KeyManager;
import javax.net.ssl.TrustManager;

/**
 * Mutual TLS for Raft's gRPC: every replica serves with its node certificate and demands one from
 * each peer and client, so a process without a certificate of the cluster cannot even open a call.
 *
 * @param keys  this node's key and certificate chain
 * @param trust the cluster's CA (and whatever else the node refuses, such as removed nodes)
 */
public record StoreTls(KeyManager keys, TrustManager trust) {
}
