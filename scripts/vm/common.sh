# Shared settings for the VM rig (sourced, not run).
# The rig boots Debian's linux-image-amd64 under qemu TCG with the host root as a read-only
# 9p lower layer and a tmpfs upper layer, so host-built binaries run against a kernel with uinput.
VM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VM_CACHE=${FRACTAL_VM_CACHE:-$VM_ROOT/.cache/vm}
VM_KERNEL_PACKAGE=${FRACTAL_VM_KERNEL_PACKAGE:-linux-image-amd64}
# Modules the initramfs loads before it can mount the root, in dependency order;
# the rest (uinput, evdev, joydev, uhid, ...) are loaded by modprobe inside the guest.
VM_INITRAMFS_MODULES="virtio_pci virtio_rng 9pnet_virtio 9p overlay"

vm_die() { echo "vm: $*" >&2; exit 1; }

vm_need() {
  local missing=()
  for tool in "$@"; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
  [ ${#missing[@]} -eq 0 ] || vm_die "missing tools: ${missing[*]}; run scripts/setup-host to install them from Debian's packages"
}
