package fivenines.vm.xen;

/**
 * A {@code vif} entry.
 *
 * @param mac its MAC address, or null when Xen would have made one up
 * @param bridge the host bridge, or null for the default
 */
public record XenNic(String mac, String bridge) {
}
