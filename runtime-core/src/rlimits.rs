//! `process.rlimits`: checked before the clone (a hard limit above the
//! current one needs `CAP_SYS_RESOURCE`, which the caller may lack), set in
//! the init before it drops privileges.

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use oci_spec::runtime::{PosixRlimitType, Process};

use crate::error::{Error, Result};

/// One limit to set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limit {
    pub resource: Resource,
    pub soft: u64,
    pub hard: u64,
}

fn resource(t: PosixRlimitType) -> Resource {
    use PosixRlimitType as T;
    match t {
        T::RlimitCpu => Resource::RLIMIT_CPU,
        T::RlimitFsize => Resource::RLIMIT_FSIZE,
        T::RlimitData => Resource::RLIMIT_DATA,
        T::RlimitStack => Resource::RLIMIT_STACK,
        T::RlimitCore => Resource::RLIMIT_CORE,
        T::RlimitRss => Resource::RLIMIT_RSS,
        T::RlimitNproc => Resource::RLIMIT_NPROC,
        T::RlimitNofile => Resource::RLIMIT_NOFILE,
        T::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        T::RlimitAs => Resource::RLIMIT_AS,
        T::RlimitLocks => Resource::RLIMIT_LOCKS,
        T::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        T::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        T::RlimitNice => Resource::RLIMIT_NICE,
        T::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        T::RlimitRttime => Resource::RLIMIT_RTTIME,
    }
}

/// The config name of a limit, for messages.
pub(crate) fn name(r: Resource) -> String {
    format!("{r:?}")
}

/// Validates and prepares `process.rlimits`.
pub(crate) fn prepare(process: &Process) -> Result<Vec<Limit>> {
    let can_raise = caps::has_cap(
        None,
        caps::CapSet::Effective,
        caps::Capability::CAP_SYS_RESOURCE,
    )
    .unwrap_or(false);
    let mut out: Vec<Limit> = Vec::new();
    for (i, r) in process.rlimits().iter().flatten().enumerate() {
        let field = format!("process.rlimits[{i}]");
        let limit = Limit {
            resource: resource(r.typ()),
            soft: r.soft(),
            hard: r.hard(),
        };
        if out.iter().any(|l| l.resource == limit.resource) {
            return Err(Error::invalid(
                field,
                format!("{} is listed twice", name(limit.resource)),
            ));
        }
        if limit.soft > limit.hard {
            return Err(Error::invalid(
                field,
                format!(
                    "{}: soft limit {} is above hard limit {}",
                    name(limit.resource),
                    limit.soft,
                    limit.hard
                ),
            ));
        }
        let (_, current_hard) = getrlimit(limit.resource)
            .map_err(|errno| Error::sys("getrlimit", name(limit.resource), errno))?;
        if limit.hard > current_hard && !can_raise {
            return Err(Error::invalid(
                field,
                format!(
                    "{}: hard limit {} is above the current {} and raising it needs CAP_SYS_RESOURCE",
                    name(limit.resource),
                    limit.hard,
                    current_hard
                ),
            ));
        }
        out.push(limit);
    }
    Ok(out)
}

/// Sets every limit on the calling process.
pub(crate) fn apply(limits: &[Limit]) -> Result<(), (usize, nix::errno::Errno)> {
    for (i, l) in limits.iter().enumerate() {
        setrlimit(l.resource, l.soft, l.hard).map_err(|e| (i, e))?;
    }
    Ok(())
}
