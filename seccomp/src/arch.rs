//! The ABIs a filter dispatches on: their `AUDIT_ARCH_*` value, syscall
//! table and the range of syscall numbers that belongs to them.

use oci_spec::runtime::Arch;

use crate::Error;
use crate::syscalls::{self, Table};

const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;
const AUDIT_ARCH_ARM: u32 = 0x4000_0028;

/// `__X32_SYSCALL_BIT`: x32 syscalls run under `AUDIT_ARCH_X86_64` with this
/// bit set in the syscall number.
pub(crate) const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// One syscall ABI a host kernel can report in `seccomp_data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Abi {
    /// The OCI name of the ABI.
    pub(crate) arch: Arch,
    /// `seccomp_data.arch` for it.
    pub(crate) audit_arch: u32,
    /// Names to numbers.
    pub(crate) table: Table,
    /// Syscall numbers of this ABI are `>= first_nr` (x32 shares
    /// `AUDIT_ARCH_X86_64` with x86_64 and is told apart by the x32 bit).
    pub(crate) first_nr: u32,
    /// Syscall arguments are 32 bits wide: only their low halves are compared.
    pub(crate) narrow_args: bool,
}

const X86_64: Abi = Abi {
    arch: Arch::ScmpArchX86_64,
    audit_arch: AUDIT_ARCH_X86_64,
    table: syscalls::X86_64,
    first_nr: 0,
    narrow_args: false,
};
const X32: Abi = Abi {
    arch: Arch::ScmpArchX32,
    audit_arch: AUDIT_ARCH_X86_64,
    table: syscalls::X32,
    first_nr: X32_SYSCALL_BIT,
    narrow_args: false,
};
const X86: Abi = Abi {
    arch: Arch::ScmpArchX86,
    audit_arch: AUDIT_ARCH_I386,
    table: syscalls::X86,
    first_nr: 0,
    narrow_args: true,
};
const AARCH64: Abi = Abi {
    arch: Arch::ScmpArchAarch64,
    audit_arch: AUDIT_ARCH_AARCH64,
    table: syscalls::AARCH64,
    first_nr: 0,
    narrow_args: false,
};
const ARM: Abi = Abi {
    arch: Arch::ScmpArchArm,
    audit_arch: AUDIT_ARCH_ARM,
    table: syscalls::ARM,
    first_nr: 0,
    narrow_args: true,
};

/// The ABIs of a host: the native one first, then its compat ABIs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Host {
    /// The native ABI.
    pub(crate) native: Abi,
    compat: &'static [Abi],
}

impl Host {
    /// The host this crate was built for.
    pub(crate) fn current() -> Result<Self, Error> {
        if cfg!(target_arch = "x86_64") {
            Ok(Self::for_arch(Arch::ScmpArchX86_64))
        } else if cfg!(target_arch = "aarch64") {
            Ok(Self::for_arch(Arch::ScmpArchAarch64))
        } else {
            Err(Error::UnsupportedHost)
        }
    }

    /// The x86_64 host for `ScmpArchX86_64`, else the aarch64 host.
    pub(crate) fn for_arch(native: Arch) -> Self {
        if native == Arch::ScmpArchX86_64 {
            Self {
                native: X86_64,
                compat: &[X86, X32],
            }
        } else {
            Self {
                native: AARCH64,
                compat: &[ARM],
            }
        }
    }

    /// The ABI an OCI architecture names on this host.
    pub(crate) fn abi(&self, arch: Arch) -> Result<Abi, Error> {
        if arch == Arch::ScmpArchNative || arch == self.native.arch {
            return Ok(self.native);
        }
        self.compat
            .iter()
            .find(|abi| abi.arch == arch)
            .copied()
            .ok_or(Error::ForeignArchitecture { arch })
    }
}
