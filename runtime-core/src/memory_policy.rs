//! `linux.memoryPolicy`: the NUMA memory policy of the container's
//! processes. Checked and turned into `set_mempolicy(2)` arguments before
//! the clone; set by the init (and by every process `exec` starts, as
//! runc does), and kept by the program across `execve`.
#![forbid(unsafe_code)]

use nix::errno::Errno;
use oci_spec::runtime::{MemoryPolicyFlagType, MemoryPolicyModeType, Spec};

use crate::error::{Error, Result};
use crate::{scheduling, sys};

/// Node numbers a mask holds: 1024, the kernel's largest `MAX_NUMNODES`
/// (`CONFIG_NODES_SHIFT` is at most 10).
const MAX_NODES: usize = 1024;

const WORD_BITS: usize = libc::c_ulong::BITS as usize;

/// Modes libc does not name yet (`include/uapi/linux/mempolicy.h`).
const MPOL_PREFERRED_MANY: i32 = 5;
const MPOL_WEIGHTED_INTERLEAVE: i32 = 6;

/// The prepared `set_mempolicy` arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemoryPolicy {
    /// The mode with its flags or'ed in, as `set_mempolicy` takes it.
    pub mode: i32,
    /// The nodemask, one bit per node.
    pub nodes: [libc::c_ulong; MAX_NODES / WORD_BITS],
    /// The mode and nodes as the config gave them, for messages.
    pub described: String,
}

/// Checks `linux.memoryPolicy` as runc does (a mode without nodes takes
/// none, one that needs nodes gets at least one, the two node-numbering
/// flags exclude each other) and prepares it. The kernel judges the rest
/// (nodes this host lacks, `MPOL_F_NUMA_BALANCING` with a mode it does
/// not take) when the init sets it.
pub(crate) fn prepare(spec: &Spec) -> Result<Option<MemoryPolicy>> {
    let Some(policy) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.memory_policy().as_ref())
    else {
        return Ok(None);
    };
    let list = policy.nodes().as_deref().unwrap_or_default();
    let mut nodes = [0; MAX_NODES / WORD_BITS];
    let mut count = 0;
    if !list.trim().is_empty() {
        scheduling::each_in_list(list, "node", MAX_NODES, |node| {
            nodes[node / WORD_BITS] |= 1 << (node % WORD_BITS);
            count += 1;
        })
        .map_err(|why| Error::invalid("linux.memoryPolicy.nodes", format!("{list:?}: {why}")))?;
    }
    use MemoryPolicyModeType as M;
    let (mode, needs_nodes) = match policy.mode() {
        M::MpolDefault => (libc::MPOL_DEFAULT, Some(false)),
        M::MpolLocal => (libc::MPOL_LOCAL, Some(false)),
        M::MpolPreferred => (libc::MPOL_PREFERRED, None),
        M::MpolBind => (libc::MPOL_BIND, Some(true)),
        M::MpolInterleave => (libc::MPOL_INTERLEAVE, Some(true)),
        M::MpolPreferredMany => (MPOL_PREFERRED_MANY, Some(true)),
        M::MpolWeightedInterleave => (MPOL_WEIGHTED_INTERLEAVE, Some(true)),
    };
    match needs_nodes {
        Some(true) if count == 0 => {
            return Err(Error::invalid(
                "linux.memoryPolicy.nodes",
                format!("{} needs at least one node", policy.mode()),
            ));
        }
        Some(false) if count > 0 => {
            return Err(Error::invalid(
                "linux.memoryPolicy.nodes",
                format!("{} takes no nodes, got {list:?}", policy.mode()),
            ));
        }
        _ => {}
    }
    let flags = policy.flags().as_deref().unwrap_or_default();
    let has = |f: MemoryPolicyFlagType| flags.contains(&f);
    if has(MemoryPolicyFlagType::MpolFStaticNodes) && has(MemoryPolicyFlagType::MpolFRelativeNodes)
    {
        return Err(Error::invalid(
            "linux.memoryPolicy.flags",
            "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other",
        ));
    }
    let flag_bits = flags.iter().fold(0, |bits, f| {
        bits | match f {
            MemoryPolicyFlagType::MpolFNumaBalancing => libc::MPOL_F_NUMA_BALANCING,
            MemoryPolicyFlagType::MpolFRelativeNodes => libc::MPOL_F_RELATIVE_NODES,
            MemoryPolicyFlagType::MpolFStaticNodes => libc::MPOL_F_STATIC_NODES,
        }
    });
    Ok(Some(MemoryPolicy {
        mode: mode | flag_bits,
        nodes,
        described: format!("{} nodes {list:?}", policy.mode()),
    }))
}

/// Sets the policy for the calling (single-threaded) process; in the
/// init, without allocating.
pub(crate) fn apply(policy: &MemoryPolicy) -> Result<(), Errno> {
    sys::set_mempolicy(policy.mode, &policy.nodes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn policy(json: serde_json::Value) -> Result<Option<MemoryPolicy>> {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.2.0",
            "linux": {"memoryPolicy": json}
        }))
        .unwrap();
        prepare(&spec)
    }

    #[test]
    fn nodes_become_a_nodemask_and_flags_join_the_mode() {
        let p = policy(serde_json::json!({
            "mode": "MPOL_INTERLEAVE", "nodes": "0-2,65,1023", "flags": ["MPOL_F_STATIC_NODES"]
        }))
        .unwrap()
        .unwrap();
        assert_eq!(p.mode, libc::MPOL_INTERLEAVE | libc::MPOL_F_STATIC_NODES);
        assert_eq!(p.nodes[0], 0b111);
        assert_eq!(p.nodes[1], 0b10);
        assert_eq!(p.nodes[15], 1 << 63);
        assert_eq!(p.nodes[2..15].iter().sum::<libc::c_ulong>(), 0);
    }

    #[test]
    fn node_counts_and_flags_are_checked_per_mode() {
        let bad = [
            serde_json::json!({"mode": "MPOL_BIND"}),
            serde_json::json!({"mode": "MPOL_WEIGHTED_INTERLEAVE", "nodes": ""}),
            serde_json::json!({"mode": "MPOL_DEFAULT", "nodes": "0"}),
            serde_json::json!({"mode": "MPOL_LOCAL", "nodes": "1"}),
            serde_json::json!({"mode": "MPOL_BIND", "nodes": "0-x"}),
            serde_json::json!({"mode": "MPOL_BIND", "nodes": "1024"}),
            serde_json::json!({"mode": "MPOL_BIND", "nodes": "0",
                "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]}),
        ];
        for json in bad {
            assert!(policy(json.clone()).is_err(), "{json} accepted");
        }
        for json in [
            serde_json::json!({"mode": "MPOL_DEFAULT"}),
            serde_json::json!({"mode": "MPOL_PREFERRED"}),
            serde_json::json!({"mode": "MPOL_PREFERRED", "nodes": "0"}),
            serde_json::json!({"mode": "MPOL_BIND", "nodes": "0",
                "flags": ["MPOL_F_NUMA_BALANCING"]}),
        ] {
            assert!(policy(json.clone()).is_ok(), "{json} refused");
        }
    }
}
