package fivenines.testsupport.guest;

import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/** Builds the test guest from Debian packages into a cache directory keyed by its inputs. */
final class GuestBuilder {
    /** The modules /init loads; their dependencies come from modules.dep. */
    static final List<String> MODULES = List.of("virtio_pci", "virtio_blk", "virtio_net", "nbd", "aoe");

    private static final Pattern CLOUD_KERNEL = Pattern.compile("^(linux-image-6\\.1\\.0-(\\d+)-cloud-amd64) ");
    private static final String BUSYBOX = "busybox-static";
    /** Bumped when the way the guest is assembled changes, so old caches are not reused. */
    private static final String LAYOUT_VERSION = "1";

    private GuestBuilder() {
    }

    /** One JVM builds at a time (FileChannel.lock is per process); the lock file covers other JVMs. */
    static synchronized TestGuest buildCached(Path cache) throws IOException, InterruptedException {
        Files.createDirectories(cache);
        String kernelPackage = newestCloudKernel();
        String inputs = String.join("\n", kernelPackage, packageVersion(kernelPackage),
                BUSYBOX, packageVersion(BUSYBOX), String.join(",", MODULES), initScript(), LAYOUT_VERSION);
        Path target = cache.resolve(kernelPackage + "-" + sha256(inputs).substring(0, 16));
        var guest = existing(target);
        if (guest != null) {
            return guest;
        }
        try (var lockChannel = FileChannel.open(cache.resolve(".lock"),
                StandardOpenOption.CREATE, StandardOpenOption.WRITE);
             var lock = lockChannel.lock()) {
            guest = existing(target);
            if (guest != null) {
                return guest;
            }
            Path work = Files.createTempDirectory(cache, "build-");
            try {
                assemble(kernelPackage, work);
                Path built = work.resolve("guest");
                Files.move(built, target, StandardCopyOption.ATOMIC_MOVE);
            } finally {
                deleteTree(work);
            }
            return existing(target);
        }
    }

    private static TestGuest existing(Path target) {
        Path kernel = target.resolve("vmlinuz");
        Path initrd = target.resolve("initrd.gz");
        return Files.isRegularFile(kernel) && Files.isRegularFile(initrd) ? new TestGuest(kernel, initrd) : null;
    }

    private static void assemble(String kernelPackage, Path work) throws IOException, InterruptedException {
        Path debs = Files.createDirectories(work.resolve("debs"));
        Path tree = Files.createDirectories(work.resolve("tree"));
        Command.run(debs, "apt-get", "download", kernelPackage, BUSYBOX);
        try (Stream<Path> files = Files.list(debs)) {
            for (Path deb : files.filter(file -> file.toString().endsWith(".deb")).toList()) {
                Command.run(work, "dpkg", "-x", deb.toString(), tree.toString());
            }
        }
        String release = kernelPackage.substring("linux-image-".length());
        // the package ships no modules.dep: it is made by depmod at install time
        Command.run(work, "depmod", "-b", tree.toString(), release);
        Path moduleDirectory = tree.resolve("lib/modules").resolve(release);
        List<String> moduleFiles = KernelModules.read(moduleDirectory.resolve("modules.dep")).loadOrder(MODULES);

        Path root = Files.createDirectories(work.resolve("initramfs"));
        Files.createDirectories(root.resolve("bin"));
        Files.createDirectories(root.resolve("etc"));
        Path modules = Files.createDirectories(root.resolve("lib/modules"));
        Files.copy(tree.resolve("bin/busybox"), root.resolve("bin/busybox"));
        var loadList = new ArrayList<String>();
        for (String moduleFile : moduleFiles) {
            Path source = moduleDirectory.resolve(moduleFile);
            Files.copy(source, modules.resolve(source.getFileName()));
            loadList.add(source.getFileName().toString());
        }
        Files.write(root.resolve("etc/nines-modules"), loadList);
        Files.writeString(root.resolve("init"), initScript());
        Command.run(work, "chmod", "755", root.resolve("init").toString(), root.resolve("bin/busybox").toString());

        Path guest = Files.createDirectories(work.resolve("guest"));
        Files.copy(tree.resolve("boot/vmlinuz-" + release), guest.resolve("vmlinuz"));
        Command.run(root, "sh", "-c", "find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 | gzip -1 > "
                + guest.resolve("initrd.gz"));
    }

    /** The newest 6.1 cloud kernel apt knows of; refreshes the package lists once if it knows none. */
    private static String newestCloudKernel() throws IOException, InterruptedException {
        String found = newestCloudKernelKnown();
        if (found == null) {
            Command.run(Path.of("/"), "apt-get", "update", "-q");
            found = newestCloudKernelKnown();
        }
        if (found == null) {
            throw new IOException("apt knows no linux-image-6.1.0-*-cloud-amd64 package, even after apt-get update");
        }
        return found;
    }

    private static String newestCloudKernelKnown() throws IOException, InterruptedException {
        String listing = Command.run(Path.of("/"), "apt-cache", "search", "--names-only",
                "^linux-image-6\\.1\\.0-[0-9]+-cloud-amd64$");
        return listing.lines()
                .map(CLOUD_KERNEL::matcher)
                .filter(java.util.regex.Matcher::find)
                .max(Comparator.comparingInt(matcher -> Integer.parseInt(matcher.group(2))))
                .map(matcher -> matcher.group(1))
                .orElse(null);
    }

    private static String packageVersion(String name) throws IOException, InterruptedException {
        String show = Command.run(Path.of("/"), "apt-cache", "show", "--no-all-versions", name);
        return show.lines().filter(line -> line.startsWith("Version:")).findFirst()
                .map(line -> line.substring("Version:".length()).trim())
                .orElseThrow(() -> new IOException("apt-cache shows no version of " + name));
    }

    static String initScript() throws IOException {
        try (InputStream in = GuestBuilder.class.getResourceAsStream("init")) {
            if (in == null) {
                throw new IOException("resource fivenines/testsupport/guest/init missing from the classpath");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private static String sha256(String text) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException impossible) {
            throw new IllegalStateException(impossible);
        }
    }

    private static void deleteTree(Path directory) throws IOException {
        if (!Files.exists(directory)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(directory)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        }
    }
}
