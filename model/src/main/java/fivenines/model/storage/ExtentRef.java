package fivenines.model.storage;

/** One extent of a physical volume: the PV's id and the extent's index in its data area. */
public record ExtentRef(String physicalVolume, long index) {
}
