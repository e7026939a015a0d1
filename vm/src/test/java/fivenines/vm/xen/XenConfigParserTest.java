package fivenines.vm.xen;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class XenConfigParserTest {

    private static final String SEED_DOMAIN = """
            # web-00, as the seed's xm configs were written
            kernel  = "/boot/vmlinuz-2.6.16-xen"
            ramdisk = '/boot/initrd-2.6.16-xen.img'
            memory  = 256
            name    = "web-00"
            vcpus   = 2
            vif     = [ 'mac=00:16:3E:00:00:01, bridge=xenbr0, ip=10.0.0.10',
                        'bridge=xenbr1' ]   # second card, Xen picks the MAC
            disk    = [ 'phy:vg/web-00,sda1,w',
                        'phy:/dev/vg/swap-00,sda2,w',
                        'file:/srv/xen/iso.img,hdc,r',
                      ]
            root    = "/dev/sda1 ro"
            extra   = 'console=xvc0 4'
            on_crash = 'restart'; on_reboot = 'restart'
            on_poweroff = 'destroy'
            """;

    @Test
    void seedDomainConfigMapsWhatItCan() throws XenConfigException {
        XenDomainConfig config = XenConfigParser.parse(SEED_DOMAIN);
        assertEquals("web-00", config.name());
        assertEquals(256, config.memoryMib());
        assertEquals(2, config.vcpus());
        assertEquals(Path.of("/boot/vmlinuz-2.6.16-xen"), config.kernel());
        assertEquals(Path.of("/boot/initrd-2.6.16-xen.img"), config.initrd());
        assertEquals("root=/dev/sda1 ro console=xvc0 4", config.commandLine());
        assertEquals(List.of(
                new XenDisk.Volume("vg", "web-00", "sda1", false),
                new XenDisk.Volume("vg", "swap-00", "sda2", false),
                new XenDisk.File(Path.of("/srv/xen/iso.img"), "hdc", true)), config.disks());
        assertEquals(List.of(new XenNic("00:16:3e:00:00:01", "xenbr0"), new XenNic(null, "xenbr1")), config.nics());
        assertEquals("restart", config.onCrash());
        assertEquals("restart", config.onReboot());
        assertEquals("destroy", config.onPoweroff());
        assertEquals(2, config.warnings().size(), config.warnings()::toString);
        assertTrue(config.warnings().stream().anyMatch(warning -> warning.contains("ip=10.0.0.10")));
        assertTrue(config.warnings().stream().anyMatch(warning -> warning.contains("/srv/xen/iso.img")));
    }

    @Test
    void everyUnsupportedKeyAndValueIsAWarning() throws XenConfigException {
        XenDomainConfig config = XenConfigParser.parse("""
                name = 'db'
                builder = 'hvm'
                bootloader = "/usr/bin/pygrub"
                vnc = 1
                cpus = "0-3"
                vif = [ 'mac=00:16:3e:00:00:02,script=vif-route,model=e1000' ]
                disk = [ 'phy:/dev/sdb3,xvda,w', 'drbd:r0,xvdb,w', 'phy:/dev/mapper/vg--data-db--01,xvdc,w!' ]
                on_crash = 'preserve'
                memory = 128
                memory = 512
                """);
        assertEquals(512, config.memoryMib());
        assertEquals("restart", config.onCrash());
        assertEquals(List.of(new XenDisk.Volume("vg-data", "db-01", "xvdc", false)), config.disks());
        List<String> warnings = config.warnings();
        for (String expected : List.of("builder", "bootloader", "vnc", "cpus", "script=vif-route", "model=e1000",
                "/dev/sdb3", "drbd", "w!", "preserve", "memory is set again")) {
            assertTrue(warnings.stream().anyMatch(warning -> warning.contains(expected)),
                    "no warning about " + expected + " in " + warnings);
        }
        assertEquals(11, warnings.size(), warnings::toString);
        assertNull(config.kernel());
        assertNull(config.commandLine());
    }

    @Test
    void xlCmdlineReplacesRootAndExtra() throws XenConfigException {
        XenDomainConfig config = XenConfigParser.parse("name='x'\ncmdline = 'root=/dev/xvda1 quiet'\nextra='single'\n");
        assertEquals("root=/dev/xvda1 quiet", config.commandLine());
        assertEquals(1, config.warnings().size());
    }

    @Test
    void malformedInputIsRefusedWithItsLine() {
        assertError(3, "never closed", "name = 'a'\nmemory = 64\ndisk = [ 'phy:vg/a,xvda,w',\n");
        assertError(2, "not closed", "name = 'a'\nkernel = '/boot/vmlinuz\nmemory = 64\n");
        assertError(2, "expected '='", "name = 'a'\nmemory 64\n");
        assertError(2, "whole number", "name = 'a'\nmemory = 'lots'\n");
        assertError(2, "at least 1", "name = 'a'\nvcpus = 0\n");
        assertError(1, "after the value", "name = 'a' 'b'\n");
        assertError(2, "source,device,mode", "name = 'a'\ndisk = [ 'phy:vg/a,xvda' ]\n");
        assertError(2, "mode 'x'", "name = 'a'\ndisk = [ 'phy:vg/a,xvda,x' ]\n");
        assertError(2, "not a MAC", "name = 'a'\nvif = [ 'mac=00:16:3e' ]\n");
        assertError(2, "on_crash must be one of", "name = 'a'\non_crash = 'explode'\n");
        assertError(3, "expected ',' or ']'", "name = 'a'\ndisk = [ 'phy:vg/a,xvda,w'\n 'phy:vg/b,xvdb,w' ]\n");
        assertError(0, "no name", "memory = 64\n");
        assertError(1, "expected a key", "= 64\n");
    }

    private static void assertError(int line, String message, String config) {
        var error = assertThrows(XenConfigException.class, () -> XenConfigParser.parse(config), config);
        assertEquals(line, error.line(), error.getMessage());
        assertTrue(error.getMessage().contains(message), error.getMessage());
    }
}
