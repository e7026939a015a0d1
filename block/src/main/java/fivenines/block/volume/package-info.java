/**
 * The volume engine: serves a logical volume over NBD from chunks on physical volumes of any
 * node, taking chunks on first write and copying shared ones on write; and the epoch guard
 * that block services put in front of a physical volume so that a writer cut off by a newer
 * attachment is refused.
 */
package fivenines.block.volume;
