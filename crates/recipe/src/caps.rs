//! File capabilities in `cap_from_text` form (`"cap_net_raw,cap_net_admin+ep"`) turned
//! into the `security.capability` xattr value the kernel reads (`struct vfs_cap_data`,
//! revision 2).

const NAMES: [&str; 41] = [
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
];
const VFS_CAP_REVISION_2: u32 = 0x0200_0000;
const VFS_CAP_FLAGS_EFFECTIVE: u32 = 0x1;

/// Encodes capabilities written as `cap_from_text` clauses (`"cap_net_raw+ep"`,
/// `"cap_chown,cap_fowner=eip"`, `"all=ep"`) as a `security.capability` value.
///
/// ```
/// let v = ingot_recipe::capability_xattr("cap_net_raw+ep").unwrap();
/// assert_eq!(v.len(), 20);
/// assert_eq!(&v[0..4], &[1, 0, 0, 2]); // revision 2, effective
/// assert_eq!(&v[4..8], &(1u32 << 13).to_le_bytes()); // permitted: CAP_NET_RAW
/// ```
pub fn capability_xattr(text: &str) -> Result<Vec<u8>, String> {
    let (mut permitted, mut inheritable, mut effective) = (0u64, 0u64, false);
    for clause in text.split_whitespace() {
        let at = clause
            .find(['=', '+', '-'])
            .ok_or_else(|| format!("capability clause {clause:?} has no =, + or - operator"))?;
        let mut mask = 0u64;
        for name in clause[..at].split(',').filter(|n| !n.is_empty()) {
            mask |= cap_bit(name)?;
        }
        if clause[..at].is_empty() {
            mask = all_caps();
        }
        let mut op = clause.as_bytes()[at];
        let mut flags = String::new();
        for ch in clause[at + 1..].chars() {
            match ch {
                'e' | 'i' | 'p' => flags.push(ch),
                '=' | '+' | '-' => {
                    apply(op, &flags, mask, &mut permitted, &mut inheritable, &mut effective);
                    op = ch as u8;
                    flags.clear();
                }
                _ => return Err(format!("capability flag {ch:?} in {clause:?} is not e, i or p")),
            }
        }
        apply(op, &flags, mask, &mut permitted, &mut inheritable, &mut effective);
    }
    if permitted == 0 && inheritable == 0 {
        return Err(format!("capabilities {text:?} grant nothing"));
    }
    let mut v = Vec::with_capacity(20);
    let magic = VFS_CAP_REVISION_2 | if effective { VFS_CAP_FLAGS_EFFECTIVE } else { 0 };
    v.extend_from_slice(&magic.to_le_bytes());
    v.extend_from_slice(&(permitted as u32).to_le_bytes());
    v.extend_from_slice(&(inheritable as u32).to_le_bytes());
    v.extend_from_slice(&((permitted >> 32) as u32).to_le_bytes());
    v.extend_from_slice(&((inheritable >> 32) as u32).to_le_bytes());
    Ok(v)
}

fn apply(op: u8, flags: &str, mask: u64, p: &mut u64, i: &mut u64, e: &mut bool) {
    if op == b'=' {
        *p &= !mask;
        *i &= !mask;
    }
    let set = op != b'-';
    for f in flags.chars() {
        let target = match f {
            'p' => &mut *p,
            'i' => &mut *i,
            _ => {
                *e = set || *e && op == b'=';
                continue;
            }
        };
        if set {
            *target |= mask;
        } else {
            *target &= !mask;
        }
    }
}

fn all_caps() -> u64 {
    (1u64 << NAMES.len()) - 1
}

fn cap_bit(name: &str) -> Result<u64, String> {
    let lower = name.to_ascii_lowercase();
    if lower == "all" {
        return Ok(all_caps());
    }
    let bare = lower.strip_prefix("cap_").unwrap_or(&lower);
    NAMES
        .iter()
        .position(|n| *n == bare)
        .map(|i| 1u64 << i)
        .ok_or_else(|| format!("unknown capability {name:?} (expected a name like cap_net_raw)"))
}

#[cfg(test)]
mod tests {
    use super::capability_xattr;

    #[test]
    fn encodes_like_setcap() {
        // setcap cap_net_raw,cap_net_admin+ep → 01 00 00 02 00 30 00 00 00 00 00 00 ...
        let v = capability_xattr("cap_net_raw,cap_net_admin+ep").unwrap();
        assert_eq!(v[..8], [1, 0, 0, 2, 0, 0x30, 0, 0]);
        assert_eq!(v[8..], [0u8; 12]);
        let v = capability_xattr("cap_bpf=p").unwrap();
        assert_eq!(v[0..4], [0, 0, 0, 2]);
        assert_eq!(v[12..16], (1u32 << 7).to_le_bytes());
    }

    #[test]
    fn rejects_bad_text() {
        assert!(capability_xattr("cap_nope+ep").unwrap_err().contains("cap_nope"));
        assert!(capability_xattr("cap_chown").is_err());
        assert!(capability_xattr("cap_chown+x").is_err());
        assert!(capability_xattr("cap_chown-p").is_err());
    }
}
