//! How much memory a process uses: its private dirty memory, which is what it would give back
//! if it stopped (shared and clean pages are not its own).

/// Private dirty memory of `pid` in KiB, from `/proc/PID/smaps_rollup` (Linux ≥ 4.14), summed
/// over its mappings. `None` if the process is gone or the file cannot be read.
pub fn private_dirty_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    parse_private_dirty(&text)
}

fn parse_private_dirty(smaps: &str) -> Option<u64> {
    smaps.lines().find_map(|line| {
        let rest = line.strip_prefix("Private_Dirty:")?;
        rest.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_private_dirty_line() {
        let smaps = "55d0c8a6c000-7ffd5a1f2000 ---p 00000000 00:00 0   [rollup]\n\
                     Rss:                3456 kB\n\
                     Private_Clean:       120 kB\n\
                     Private_Dirty:      2048 kB\n\
                     Swap:                  0 kB\n";
        assert_eq!(parse_private_dirty(smaps), Some(2048));
        assert_eq!(parse_private_dirty("Rss: 1 kB\n"), None);
    }

    #[test]
    fn measures_this_process() {
        let kib = private_dirty_kib(std::process::id()).expect("smaps_rollup readable");
        assert!(kib > 0);
        assert_eq!(private_dirty_kib(u32::MAX), None);
    }
}
