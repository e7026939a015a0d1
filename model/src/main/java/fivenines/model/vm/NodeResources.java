package fivenines.model.vm;

/** What a node can give to guests, as its agent reported it. */
public record NodeResources(String node, long memoryMib, int cpus) {
}
