use std::os::unix::fs::MetadataExt;

use super::*;

// === Fixed text ===

#[test]
fn stat_comm_may_hold_spaces_and_parentheses() {
    let stat = Stat::parse("42 (a (b) c) S 7 42 42 0 -1").expect("parses");
    assert_eq!(stat.pid, 42);
    assert_eq!(stat.comm, "a (b) c");
    assert_eq!(stat.state, 'S');
    assert_eq!(stat.ppid, 7);
    // The line stops before the CPU times.
    assert_eq!(stat.times, None);
    assert_eq!(stat.cpu_percent(20.0), None);
}

#[test]
fn stat_lines_missing_their_head_are_refused() {
    for bad in [
        "",
        "garbage",
        "x (sh) S 1",
        "42 (sh)",
        "42 (sh) S",
        "42 (sh) S x",
    ] {
        assert_eq!(Stat::parse(bad), None, "{bad:?}");
    }
    let zombie = Stat::parse("9 (defunct) Z 1 9 9 0 -1").expect("parses");
    assert!(zombie.is_zombie());
}

#[test]
fn cpu_from_proc_stat() {
    // Command names may hold spaces and parentheses.
    let stat = "42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 1 0 1000 1 1";
    let stat = Stat::parse(stat).expect("parses");
    assert_eq!(
        stat.times,
        Some(CpuTimes {
            user_ticks: 150,
            system_ticks: 50,
            start_ticks: 1000
        })
    );
    // 2 s of CPU over 10 s alive (started at 10 s, system up 20 s): 20 %.
    assert_eq!(stat.cpu_percent(20.0), Some(20.0));
    // Started "after" the given uptime: none yet.
    assert_eq!(stat.cpu_percent(5.0), Some(0.0));
    assert_eq!(
        Stat::parse("garbage").and_then(|s| s.cpu_percent(20.0)),
        None
    );
}

#[test]
fn status_fields_by_name() {
    let status = Status::new(
        "Name:\tpython3\nState:\tS (sleeping)\nPPid:\t12\n\
         Uid:\t1000\t1001\t1002\t1003\n\
         VmPeak:\t   30000 kB\nVmSize:\t   28672 kB\nVmRSS:\t    9000 kB\n\
         Threads:\t3\nSigQ:\t0/31451\n",
    );
    assert_eq!(status.field("Name"), Some("python3"));
    assert_eq!(status.field("State"), Some("S (sleeping)"));
    assert_eq!(status.effective_uid(), Some(1001));
    assert_eq!(status.threads(), Some(3));
    assert_eq!(status.rss_kib(), Some(9000));
    assert_eq!(status.kib("VmSize"), Some(28672));
    // Not a size, or absent.
    assert_eq!(status.kib("SigQ"), None);
    assert_eq!(status.kib("VmHWM"), None);
    // Only whole names match.
    assert_eq!(status.field("Vm"), None);
    // Kernel threads have no memory lines.
    let kthread = Status::new("Name:\tkthreadd\nUid:\t0\t0\t0\t0\nThreads:\t1\n");
    assert_eq!(kthread.rss_kib(), None);
    assert_eq!(kthread.effective_uid(), Some(0));
}

#[test]
fn reads_the_private_dirty_line() {
    let smaps = "55d0c8a6c000-7ffd5a1f2000 ---p 00000000 00:00 0   [rollup]\n\
                 Rss:                3456 kB\n\
                 Pss:                1234 kB\n\
                 Private_Clean:       120 kB\n\
                 Private_Dirty:      2048 kB\n\
                 Swap:                  0 kB\n";
    let rollup = SmapsRollup::new(smaps);
    assert_eq!(rollup.private_dirty_kib(), Some(2048));
    assert_eq!(rollup.pss_kib(), Some(1234));
    assert_eq!(rollup.kib("Swap"), Some(0));
    assert_eq!(SmapsRollup::new("Rss: 1 kB\n").private_dirty_kib(), None);
}

#[test]
fn cmdline_arguments_and_titles() {
    assert_eq!(
        parse_cmdline(b"ruby\0/x/rack-loader.rb\0"),
        ["ruby", "/x/rack-loader.rb"]
    );
    // A title set over the original arguments is padded with NULs.
    assert_eq!(
        parse_cmdline(b"Ferry RubyApp: /srv/app\0\0\0\0"),
        ["Ferry RubyApp: /srv/app"]
    );
    assert!(parse_cmdline(b"").is_empty());
    assert_eq!(parse_cmdline(b"a\xffb\0"), ["a\u{fffd}b"]);
}

#[test]
fn uptime_is_the_first_number() {
    assert_eq!(parse_uptime("12345.67 45678.90\n"), Some(12345.67));
    assert_eq!(parse_uptime(""), None);
}

// === The real /proc, of this test process ===

#[test]
fn reads_this_process() {
    let me = std::process::id();
    let stat = stat(me).expect("own stat");
    assert_eq!(stat.pid, me);
    assert!(!stat.is_zombie());
    assert_eq!(parent_pid(me), Some(std::os::unix::process::parent_id()));
    assert!(stat.cpu_percent(uptime_secs().expect("uptime")).is_some());

    let status = status(me).expect("own status");
    let owner = fs::metadata("/proc/self").expect("/proc/self").uid();
    assert_eq!(status.effective_uid(), Some(owner));
    assert!(status.threads().is_some_and(|n| n >= 1));
    assert!(status.rss_kib().is_some_and(|kib| kib > 0));

    let exe = std::env::current_exe().expect("current exe");
    let name = exe.file_name().expect("a file name").to_string_lossy();
    assert_eq!(exe_name(me).as_deref(), Some(&*name));
    let args = cmdline(me).expect("own cmdline");
    assert_eq!(args.len(), std::env::args().count());
    assert_eq!(title(me), Some(args.join(" ")));
    assert!(pids().contains(&me));
}

#[test]
fn measures_this_process() {
    let kib = private_dirty_kib(std::process::id()).expect("smaps_rollup readable");
    assert!(kib > 0);
    assert_eq!(private_dirty_kib(u32::MAX), None);
}

#[test]
fn lists_and_reads_own_threads() {
    let me = std::process::id();
    let tids = own_threads().expect("/proc/self/task");
    // The main thread's id is the process id.
    assert!(tids.contains(&me));
    assert!(tids.windows(2).all(|w| w[0] < w[1]), "ascending");
    let main = Task::own_thread(me);
    assert_eq!(main.stat().map(|s| s.pid), Some(me));
    assert!(main
        .comm()
        .is_some_and(|c| !c.is_empty() && !c.ends_with('\n')));
    assert!(main.wchan().is_some());
}

#[test]
fn a_process_that_is_gone_gives_none() {
    let gone = u32::MAX;
    assert_eq!(stat(gone), None);
    assert_eq!(parent_pid(gone), None);
    assert_eq!(status(gone), None);
    assert_eq!(cmdline(gone), None);
    assert_eq!(title(gone), None);
    assert_eq!(exe_name(gone), None);
    assert_eq!(Task::own_thread(gone).comm(), None);
}
