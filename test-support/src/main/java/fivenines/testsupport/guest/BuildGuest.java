package fivenines.testsupport.guest;

/**
 * Builds (or finds in the cache) the small test guest and prints shell assignments for it:
 * {@code GUEST_KERNEL=...} and {@code GUEST_INITRD=...}. Used by {@code scripts/test-guest}.
 */
public final class BuildGuest {
    private BuildGuest() {
    }

    public static void main(String[] args) throws Exception {
        System.err.println("building the test guest from Debian packages (cached in " + TestGuest.cacheDirectory() + ") ...");
        TestGuest guest = TestGuest.build();
        System.out.println("GUEST_KERNEL=" + guest.kernel());
        System.out.println("GUEST_INITRD=" + guest.initrd());
    }
}
