//! Where and how the container's process runs: `process.scheduler`,
//! `process.ioPriority`, `process.execCPUAffinity` and `linux.personality`.

use nix::sched::{CpuSet, sched_setaffinity};
use nix::sys::personality::{self, Persona};
use nix::unistd::Pid;
use oci_spec::runtime::{
    IOPriorityClass, LinuxPersonalityDomain, LinuxSchedulerFlag, LinuxSchedulerPolicy, Spec,
};

use crate::error::{Error, Result};
use crate::sys::{self, SchedAttr};

/// Everything prepared; each part optional.
#[derive(Debug, Default)]
pub(crate) struct Scheduling {
    pub scheduler: Option<SchedAttr>,
    pub ioprio: Option<i32>,
    pub initial_cpus: Option<CpuSet>,
    pub final_cpus: Option<CpuSet>,
    pub personality: Option<Persona>,
}

impl Scheduling {
    /// The container's own process: `execCPUAffinity` "is not applicable
    /// to the container's init process" (config.md), only to `exec`.
    pub(crate) fn for_init(mut self) -> Self {
        self.initial_cpus = None;
        self.final_cpus = None;
        self
    }
}

/// Parses a CPU list such as `0-3,7`.
pub(crate) fn cpu_list(list: &str, field: &str) -> Result<CpuSet> {
    let mut set = CpuSet::new();
    each_in_list(list, "CPU", CpuSet::count(), |cpu| {
        // Below CpuSet::count(), as each_in_list checked.
        let _ = set.set(cpu);
    })
    .map_err(|why| Error::invalid(field, format!("{list:?}: {why}")))?;
    Ok(set)
}

/// Calls `each` with every number of a list such as `0-3,7` (CPUs, memory
/// nodes), each below `limit`; or says why the list is not one.
pub(crate) fn each_in_list(
    list: &str,
    what: &str,
    limit: usize,
    mut each: impl FnMut(usize),
) -> std::result::Result<(), String> {
    for part in list.split(',').map(str::trim) {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let number = |n: &str| n.trim().parse::<usize>().ok();
        let (Some(lo), Some(hi)) = (number(lo), number(hi)) else {
            return Err(format!("not a {what} list"));
        };
        if lo > hi {
            return Err("a range runs backwards".into());
        }
        if hi >= limit {
            return Err(format!(
                "{what} number {hi} too large (at most {})",
                limit - 1
            ));
        }
        (lo..=hi).for_each(&mut each);
    }
    Ok(())
}

fn scheduler(s: &oci_spec::runtime::Scheduler) -> Result<SchedAttr> {
    use LinuxSchedulerPolicy as P;
    let policy = match s.policy() {
        P::SchedOther => libc::SCHED_OTHER,
        P::SchedFifo => libc::SCHED_FIFO,
        P::SchedRr => libc::SCHED_RR,
        P::SchedBatch => libc::SCHED_BATCH,
        P::SchedIso => 4,
        P::SchedIdle => libc::SCHED_IDLE,
        P::SchedDeadline => 6,
    } as u32;
    let nice = s.nice().unwrap_or(0);
    if !(-20..=19).contains(&nice) {
        return Err(Error::invalid(
            "process.scheduler.nice",
            format!("{nice} is outside -20..19"),
        ));
    }
    let priority = s.priority().unwrap_or(0);
    let realtime = matches!(s.policy(), P::SchedFifo | P::SchedRr);
    if !(0..=99).contains(&priority) || (priority != 0 && !realtime) {
        return Err(Error::invalid(
            "process.scheduler.priority",
            format!(
                "{priority} is not valid for {:?} (1..99 for SCHED_FIFO and SCHED_RR only)",
                s.policy()
            ),
        ));
    }
    let mut flags = 0u64;
    for f in s.flags().iter().flatten() {
        use LinuxSchedulerFlag as F;
        flags |= match f {
            F::SchedResetOnFork => 0x01,
            F::SchedFlagReclaim => 0x02,
            F::SchedFlagDLOverrun => 0x04,
            F::SchedFlagKeepPolicy => 0x08,
            F::SchedFlagKeepParams => 0x10,
            F::SchedFlagUtilClampMin => 0x20,
            F::SchedFlagUtilClampMax => 0x40,
        };
    }
    let deadline = matches!(s.policy(), P::SchedDeadline);
    let (runtime, dl, period) = (
        s.runtime().unwrap_or(0),
        s.deadline().unwrap_or(0),
        s.period().unwrap_or(0),
    );
    if deadline && !(runtime <= dl && (period == 0 || dl <= period) && runtime > 0) {
        return Err(Error::invalid(
            "process.scheduler",
            "SCHED_DEADLINE needs 0 < runtime <= deadline <= period",
        ));
    }
    Ok(SchedAttr {
        policy,
        flags,
        nice,
        priority: priority as u32,
        runtime,
        deadline: dl,
        period,
        ..SchedAttr::default()
    })
}

fn ioprio(p: &oci_spec::runtime::LinuxIOPriority) -> Result<i32> {
    let class = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    let prio = p.priority();
    if !(0..=7).contains(&prio) {
        return Err(Error::invalid(
            "process.ioPriority.priority",
            format!("{prio} is outside 0..7"),
        ));
    }
    Ok((class << 13) | prio as i32)
}

impl Scheduling {
    /// Validates and prepares the scheduling fields of the config.
    pub(crate) fn from_spec(spec: &Spec) -> Result<Self> {
        let process = spec.process().as_ref();
        let affinity = process.and_then(|p| p.exec_cpu_affinity().as_ref());
        let personality = spec.linux().as_ref().and_then(|l| l.personality().as_ref());
        if let Some(flags) = personality
            .and_then(|p| p.flags().as_ref())
            .filter(|f| !f.is_empty())
        {
            return Err(Error::invalid(
                "linux.personality.flags",
                format!("{flags:?}: no flags are supported"),
            ));
        }
        Ok(Scheduling {
            scheduler: process
                .and_then(|p| p.scheduler().as_ref())
                .map(scheduler)
                .transpose()?,
            ioprio: process
                .and_then(|p| p.io_priority().as_ref())
                .map(ioprio)
                .transpose()?,
            initial_cpus: affinity
                .and_then(|a| a.initial().as_deref())
                .map(|l| cpu_list(l, "process.execCPUAffinity.initial"))
                .transpose()?,
            final_cpus: affinity
                .and_then(|a| a.cpu_affinity_final().as_deref())
                .map(|l| cpu_list(l, "process.execCPUAffinity.final"))
                .transpose()?,
            personality: personality.map(|p| match p.domain() {
                LinuxPersonalityDomain::PerLinux => Persona::empty(),
                LinuxPersonalityDomain::PerLinux32 => Persona::from_bits_retain(0x0008),
            }),
        })
    }
}

/// Which setting failed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Failed {
    Affinity,
    Scheduler,
    IoPriority,
    Personality,
}

/// The `initial` CPU affinity, set first thing in the init.
pub(crate) fn apply_initial(s: &Scheduling) -> Result<(), (Failed, nix::errno::Errno)> {
    if let Some(cpus) = &s.initial_cpus {
        sched_setaffinity(Pid::from_raw(0), cpus).map_err(|e| (Failed::Affinity, e))?;
    }
    Ok(())
}

/// Scheduler and I/O priority, set while the init is still privileged.
pub(crate) fn apply_priorities(s: &Scheduling) -> Result<(), (Failed, nix::errno::Errno)> {
    if let Some(attr) = &s.scheduler {
        sys::sched_setattr(attr).map_err(|e| (Failed::Scheduler, e))?;
    }
    if let Some(prio) = s.ioprio {
        sys::ioprio_set(prio).map_err(|e| (Failed::IoPriority, e))?;
    }
    Ok(())
}

/// The `final` CPU affinity and the personality, set just before `execve`.
pub(crate) fn apply_final(s: &Scheduling) -> Result<(), (Failed, nix::errno::Errno)> {
    if let Some(cpus) = &s.final_cpus {
        sched_setaffinity(Pid::from_raw(0), cpus).map_err(|e| (Failed::Affinity, e))?;
    }
    if let Some(persona) = s.personality {
        personality::set(persona).map_err(|e| (Failed::Personality, e))?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_ranges_and_singles() {
        let set = cpu_list("0-2,5", "f").unwrap();
        let on: Vec<usize> = (0..8).filter(|c| set.is_set(*c).unwrap()).collect();
        assert_eq!(on, [0, 1, 2, 5]);
        for bad in ["", "a", "3-1", "1-", "0-abc", "0-99999"] {
            assert!(cpu_list(bad, "f").is_err(), "{bad:?} accepted");
        }
    }
}
