//! The sealed exec stub that keeps gorae's own binary out of the container's
//! reach (CVE-2019-5736).
//!
//! gorae does not re-execute itself: the container's init is a clone of the
//! `gorae` process, so until it calls `execve` its `/proc/self/exe` is
//! gorae's file on the host. A container program starting with
//! `#!/proc/self/exe` would make the kernel run that file, inside the
//! container, where another container process could reopen it for writing.
//!
//! So the init never `execve`s the user's program itself. It `execveat`s this
//! stub from a sealed, read-only memfd, and the stub `execve`s the program.
//! Whatever the program does with `/proc/self/exe` from then on resolves to
//! the memfd, which no one can write. The stub is about 160 bytes: one ELF
//! header, one program header and ten instructions, so the extra `execve`
//! costs a few microseconds.
//!
//! The stub's contract: `argv[0]` is the path to execute, `argv[1..]` the
//! program's own argv, `envp` its environment. If `execve` fails, it exits
//! with status 127.

use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, SealFlag, fcntl};

use crate::sys;

/// Where the stub is loaded; above `vm.mmap_min_addr` on every distribution.
const LOAD_ADDR: u64 = 0x40_0000;
const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;

#[cfg(target_arch = "x86_64")]
const MACHINE: u16 = 0x3e;
/// x86_64, assembled with GNU as:
/// ```text
/// mov rdi, [rsp+8]          ; argv[0]: the path
/// lea rsi, [rsp+16]         ; &argv[1]: the program's argv
/// mov rax, [rsp]            ; argc
/// lea rdx, [rsp+rax*8+16]   ; envp = &argv[argc + 1]
/// mov eax, 59               ; execve
/// syscall
/// mov edi, 127
/// mov eax, 231              ; exit_group
/// syscall
/// ```
#[cfg(target_arch = "x86_64")]
const CODE: [u8; 38] = [
    0x48, 0x8b, 0x7c, 0x24, 0x08, 0x48, 0x8d, 0x74, 0x24, 0x10, 0x48, 0x8b, 0x04, 0x24, 0x48, 0x8d,
    0x54, 0xc4, 0x10, 0xb8, 0x3b, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xbf, 0x7f, 0x00, 0x00, 0x00, 0xb8,
    0xe7, 0x00, 0x00, 0x00, 0x0f, 0x05,
];

#[cfg(not(target_arch = "x86_64"))]
compile_error!("gorae's sealed exec stub exists for x86_64 only so far");

const STUB_SIZE: usize = EHDR_SIZE + PHDR_SIZE + CODE.len();

/// The stub as an ELF executable, built at compile time.
const STUB: [u8; STUB_SIZE] = build_stub();

const fn put(buf: &mut [u8; STUB_SIZE], at: usize, bytes: &[u8]) {
    let mut i = 0;
    while i < bytes.len() {
        buf[at + i] = bytes[i];
        i += 1;
    }
}

const fn build_stub() -> [u8; STUB_SIZE] {
    let mut b = [0u8; STUB_SIZE];
    // ELF header: 64-bit, little endian, version 1, System V ABI.
    put(&mut b, 0, &[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    put(&mut b, 16, &2u16.to_le_bytes()); // ET_EXEC
    put(&mut b, 18, &MACHINE.to_le_bytes());
    put(&mut b, 20, &1u32.to_le_bytes()); // EV_CURRENT
    let entry = LOAD_ADDR + (EHDR_SIZE + PHDR_SIZE) as u64;
    put(&mut b, 24, &entry.to_le_bytes());
    put(&mut b, 32, &(EHDR_SIZE as u64).to_le_bytes()); // e_phoff
    put(&mut b, 52, &(EHDR_SIZE as u16).to_le_bytes()); // e_ehsize
    put(&mut b, 54, &(PHDR_SIZE as u16).to_le_bytes()); // e_phentsize
    put(&mut b, 56, &1u16.to_le_bytes()); // e_phnum
    // One PT_LOAD segment, read + execute, mapping the whole file.
    let ph = EHDR_SIZE;
    put(&mut b, ph, &1u32.to_le_bytes()); // PT_LOAD
    put(&mut b, ph + 4, &5u32.to_le_bytes()); // PF_R | PF_X
    put(&mut b, ph + 16, &LOAD_ADDR.to_le_bytes()); // p_vaddr
    put(&mut b, ph + 24, &LOAD_ADDR.to_le_bytes()); // p_paddr
    put(&mut b, ph + 32, &(STUB_SIZE as u64).to_le_bytes()); // p_filesz
    put(&mut b, ph + 40, &(STUB_SIZE as u64).to_le_bytes()); // p_memsz
    put(&mut b, ph + 48, &0x1000u64.to_le_bytes()); // p_align
    put(&mut b, EHDR_SIZE + PHDR_SIZE, &CODE);
    b
}

/// Writes the stub into a new memfd and seals it against any change.
pub(crate) fn stub_memfd() -> Result<OwnedFd, Errno> {
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // MFD_EXEC (Linux 6.3) keeps the memfd executable where vm.memfd_noexec
    // would otherwise make it not; older kernels reject the flag.
    let fd = match sys::memfd_create(c"gorae-exec", flags | libc::MFD_EXEC) {
        Err(Errno::EINVAL) => sys::memfd_create(c"gorae-exec", flags)?,
        other => other?,
    };
    let mut written = 0;
    while written < STUB.len() {
        written += nix::unistd::write(fd.as_fd(), &STUB[written..])?;
    }
    let seals = SealFlag::F_SEAL_SEAL
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE;
    fcntl(fd.as_fd(), FcntlArg::F_ADD_SEALS(seals))?;
    Ok(fd)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn stub_memfd_is_sealed_against_writes() {
        let fd = stub_memfd().unwrap();
        let err = nix::unistd::write(fd.as_fd(), b"x").unwrap_err();
        assert_eq!(err, Errno::EPERM);
        let seals = fcntl(fd.as_fd(), FcntlArg::F_GET_SEALS).unwrap();
        assert_ne!(seals & libc::F_SEAL_WRITE, 0);
    }

    #[test]
    fn stub_executes_its_first_argument_with_the_rest_as_argv() {
        use std::os::unix::process::CommandExt;
        let dir = std::env::temp_dir().join(format!("gorae-stub-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let stub = dir.join("stub");
        std::fs::write(&stub, STUB).unwrap();
        std::fs::set_permissions(&stub, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let out = Command::new(&stub)
            .arg0("/bin/sh")
            .args(["my-sh", "-c", "echo \"$0 $1 $GORAE_X\"", "zero", "one"])
            .env("GORAE_X", "env-kept")
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "zero one env-kept\n");
        let missing = Command::new(&stub)
            .arg0("/nonexistent")
            .arg("x")
            .status()
            .unwrap();
        assert_eq!(missing.code(), Some(127));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
