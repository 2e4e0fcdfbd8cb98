#!/usr/bin/env bash
# Builds a Vagrant box (libvirt provider) of Debian 12 from an apt mirror, without a loop device,
# a partition table or a boot loader: debootstrap into a directory, `mkfs.ext4 -d` turns it into
# the whole disk, and the box boots its own kernel and initrd directly (the box's Vagrantfile
# points libvirt at them). Called by `deno task vm-check` (lib/vm/), which passes the mirror it
# read from this machine's apt sources, so no mirror is written in the repository.
#
#   bash lab/vm/build-box.sh OUT.box WORKDIR MIRROR SECURITY_MIRROR [CA.crt…]
#
#   OUT.box          the box file to write (a tar: metadata.json, Vagrantfile, box.img, kernel)
#   WORKDIR          scratch directory (emptied first; removed at the end)
#   MIRROR           Debian mirror for bookworm and bookworm-updates (e.g. what /etc/apt uses)
#   SECURITY_MIRROR  mirror for bookworm-security ("-" for none)
#   CA.crt           certificates the VM must trust as this machine does (an egress proxy's)
#
# P4CF_BOX_APT_CONF: apt.conf lines the mirror needs (proxies, `Acquire::Check-Valid-Until`).
#
# The box's user is `vagrant` with Vagrant's well-known public key (Vagrant replaces it with a
# generated one at the first `vagrant up`) and password-less sudo, as every Vagrant box has.
set -euo pipefail
[ $# -ge 4 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 1; }
out=$1 work=$2 mirror=$3 security=$4
shift 4
[ "$(id -u)" -eq 0 ] || { echo "build-box: run it as root" >&2; exit 1; }
DISK_GB=${P4CF_VM_DISK_GB:-24}
step() { printf '==> %s\n' "$*"; }

key=$(ls /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub 2>/dev/null | head -1 || true)
[ -n "$key" ] || key=$(ls /opt/vagrant/embedded/gems/gems/vagrant-*/keys/vagrant.pub 2>/dev/null | head -1 || true)
[ -n "$key" ] || { echo "build-box: Vagrant's public key (keys/vagrant.pub) not found: is vagrant installed?" >&2; exit 1; }

root=$work/root
# debootstrap mounts /proc and /sys inside the root while it configures packages: a build that is
# stopped half-way must not leave them mounted.
cleanup() {
  local m
  for m in proc sys dev/pts dev; do umount -l "$root/$m" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cleanup
rm -rf --one-file-system "$work"
mkdir -p "$work"

step "debootstrap bookworm from $mirror"
debootstrap --variant=minbase \
  --include=systemd-sysv,dbus,udev,kmod,linux-image-amd64,initramfs-tools,openssh-server,sudo,rsync,ca-certificates,ifupdown,isc-dhcp-client,iproute2,netbase,procps,less,curl,gnupg \
  bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  { tail -20 "$work/debootstrap.log" >&2; exit 1; }

step "configuring the image"
cat >"$root/etc/apt/sources.list" <<SRC
deb $mirror bookworm main
deb $mirror bookworm-updates main
SRC
[ "$security" != - ] && echo "deb $security bookworm-security main" >>"$root/etc/apt/sources.list"
# apt settings this machine's mirror needs (proxies; a snapshot mirror's old release files), as
# vm-check read them from `apt-config dump`.
if [ -n "${P4CF_BOX_APT_CONF:-}" ]; then
  printf '%s' "$P4CF_BOX_APT_CONF" >"$root/etc/apt/apt.conf.d/90p4cf-host"
fi
echo p4cf-debian12 >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 p4cf-debian12\n' >"$root/etc/hosts"
echo '/dev/vda / ext4 defaults,errors=remount-ro 0 1' >"$root/etc/fstab"
# The NIC is named ens3, as on a stock Debian 12 under KVM, not eth0: labs name their hosts'
# interfaces eth0, which a Debian 12 (6.1) kernel refuses beside a host eth0 when the link is
# created from the host's namespace. The kernel's own names are kept (net.ifnames=0), so the name
# comes from this rule alone, whatever PCI slot libvirt gives the NIC.
mkdir -p "$root/etc/systemd/network"
cat >"$root/etc/systemd/network/10-p4cf-nic.link" <<LINK
[Match]
OriginalName=eth0
[Link]
Name=ens3
LINK
cat >"$root/etc/network/interfaces" <<NET
auto lo
iface lo inet loopback
auto ens3
iface ens3 inet dhcp
NET
# The VM's console is its serial port; no getty on a virtual terminal nobody sees.
ln -sf /dev/null "$root/etc/systemd/system/getty@tty1.service"
chroot "$root" useradd -m -s /bin/bash -G sudo vagrant
echo 'vagrant ALL=(ALL) NOPASSWD: ALL' >"$root/etc/sudoers.d/vagrant"
chmod 0440 "$root/etc/sudoers.d/vagrant"
install -d -m 0700 -o 1000 -g 1000 "$root/home/vagrant/.ssh"
install -m 0600 -o 1000 -g 1000 "$key" "$root/home/vagrant/.ssh/authorized_keys"
echo 'UseDNS no' >"$root/etc/ssh/sshd_config.d/vagrant.conf"
# This machine's extra certificates (an egress proxy's, say): the VM trusts them as this machine
# does, in the system store and for the programs that keep their own (Node, npm, Deno).
if [ $# -gt 0 ]; then
  for ca in "$@"; do cp "$ca" "$root/usr/local/share/ca-certificates/$(basename "${ca%.crt}").crt"; done
  chroot "$root" update-ca-certificates >/dev/null 2>&1
  cat >>"$root/etc/environment" <<ENV
NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
DENO_TLS_CA_STORE=system,mozilla
ENV
  echo 'cafile=/etc/ssl/certs/ca-certificates.crt' >"$root/etc/npmrc"
  echo 'Defaults env_keep += "NODE_EXTRA_CA_CERTS DENO_TLS_CA_STORE"' >"$root/etc/sudoers.d/ca-env"
  chmod 0440 "$root/etc/sudoers.d/ca-env"
fi
# Daily apt runs would compete with provisioning for the apt lock and an emulated CPU.
for t in apt-daily.timer apt-daily-upgrade.timer; do ln -sf /dev/null "$root/etc/systemd/system/$t"; done
chroot "$root" apt-get clean
rm -f "$root"/etc/ssh/ssh_host_*
# Host keys are made at the VM's first boot, so no two VMs of this box share them.
cat >"$root/etc/systemd/system/ssh-hostkeys.service" <<UNIT
[Unit]
Description=Generate SSH host keys
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key
[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A
[Install]
WantedBy=multi-user.target
UNIT
chroot "$root" systemctl enable ssh-hostkeys.service >/dev/null 2>&1
: >"$root/etc/machine-id"

step "disk image (${DISK_GB} GB, ext4 without partitions)"
kernel=$(ls "$root"/boot/vmlinuz-* | sort -V | tail -1)
initrd=$(ls "$root"/boot/initrd.img-* | sort -V | tail -1)
mkdir -p "$work/box"
cp "$kernel" "$work/box/vmlinuz"
cp "$initrd" "$work/box/initrd.img"
chmod 0644 "$work/box/vmlinuz" "$work/box/initrd.img"
mkfs.ext4 -q -L root -d "$root" "$work/disk.raw" "${DISK_GB}G"
cleanup
rm -rf --one-file-system "$root"
qemu-img convert -O qcow2 "$work/disk.raw" "$work/box/box.img"
rm -f "$work/disk.raw"
cat >"$work/box/metadata.json" <<META
{"provider": "libvirt", "format": "qcow2", "virtual_size": $DISK_GB}
META
cat >"$work/box/Vagrantfile" <<'VF'
# Debian 12 built by P4ContainerFlow's lab/vm/build-box.sh: no boot loader, the kernel and
# initrd next to this file are booted directly.
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |lv|
    lv.kernel = File.join(__dir__, "vmlinuz")
    lv.initrd = File.join(__dir__, "initrd.img")
    lv.cmd_line = "root=/dev/vda rw console=ttyS0 net.ifnames=0"
  end
end
VF
step "box file $out"
mkdir -p "$(dirname "$out")"
tar -C "$work/box" -cf "$out.tmp" metadata.json Vagrantfile vmlinuz initrd.img box.img
mv "$out.tmp" "$out"
rm -rf "$work"
ls -l "$out"
