//! The text layout of `ferry memory-stats`, after `passenger-memory-stats`: per section a title
//! line of dashes centred around ` <title> `, a header, a dashed rule, one row per process and two
//! `###` totals lines. Columns are left-aligned with two spaces between them.

use std::fmt::Write as _;

use super::{ProcessInfo, Report, Section};

const HEADER: [&str; 6] = ["PID", "PPID", "Threads", "VMSize", "Private", "Name"];
const GAP: &str = "  ";

/// The report as text; process names are cut so that rows fit in `width` characters.
pub fn render_text(report: &Report, width: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Version : ferry {}", report.version);
    let _ = writeln!(out, "Date    : {}", report.date);
    for section in &report.sections {
        out.push('\n');
        render_section(&mut out, section, width);
    }
    if report.some_private_unknown() {
        out.push_str(
            "\n*** The private dirty RSS of other users' processes is unknown (?): only root can \
             read it. Run as root to see all.\n",
        );
    }
    out
}

fn render_section(out: &mut String, section: &Section, width: usize) {
    if section.processes.is_empty() {
        let _ = writeln!(out, "{}", title_line(section.title, 0));
        let _ = writeln!(out, "### Processes: 0");
        return;
    }
    let rows: Vec<[String; 5]> = section.processes.iter().map(cells).collect();
    let mut widths = HEADER.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let prefix: usize = widths[..5].iter().map(|w| w + GAP.len()).sum();
    let name_room = width.saturating_sub(prefix).max(HEADER[5].len());
    let names: Vec<String> = section
        .processes
        .iter()
        .map(|p| p.name.chars().take(name_room).collect())
        .collect();
    widths[5] = names
        .iter()
        .map(|n| n.chars().count())
        .fold(widths[5], usize::max);
    let table_width = prefix + widths[5];
    let _ = writeln!(out, "{}", title_line(section.title, table_width));
    let _ = writeln!(
        out,
        "{}",
        line(&widths, HEADER.map(str::to_owned).as_slice())
    );
    let _ = writeln!(out, "{}", "-".repeat(table_width));
    for (row, name) in rows.into_iter().zip(names) {
        let mut cells = row.to_vec();
        cells.push(name);
        let _ = writeln!(out, "{}", line(&widths, &cells));
    }
    let _ = writeln!(out, "### Processes: {}", section.processes.len());
    let partial = if section.total_is_partial() {
        " (?)"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "### Total private dirty RSS: {:.2} MB{partial}",
        mb(section.total_private_dirty_kib())
    );
}

/// Dashes centred around ` title `, at least `width` long.
fn title_line(title: &str, width: usize) -> String {
    let dashes = width.saturating_sub(title.len() + 2).max(6);
    let left = dashes / 2;
    format!("{} {title} {}", "-".repeat(left), "-".repeat(dashes - left))
}

/// Cells padded to their column's width, the last one not padded.
fn line(widths: &[usize], cells: &[String]) -> String {
    let mut out = String::new();
    for (i, cell) in cells.iter().enumerate() {
        if i + 1 == cells.len() {
            out.push_str(cell);
        } else {
            let _ = write!(out, "{cell:<width$}{GAP}", width = widths[i]);
        }
    }
    out
}

fn cells(p: &ProcessInfo) -> [String; 5] {
    [
        p.pid.to_string(),
        p.ppid.to_string(),
        p.threads.to_string(),
        format!("{:.1} MB", mb(p.vm_size_kib)),
        p.private_dirty_kib
            .map_or_else(|| "?".to_owned(), |kib| format!("{:.1} MB", mb(kib))),
    ]
}

#[allow(clippy::cast_precision_loss)] // memory sizes are far below 2^52 KiB
fn mb(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(pid: u32, ppid: u32, private: Option<u64>, name: &str) -> ProcessInfo {
        ProcessInfo {
            pid,
            ppid,
            threads: 3,
            vm_size_kib: 92_774,
            private_dirty_kib: private,
            name: name.to_owned(),
        }
    }

    fn report() -> Report {
        Report {
            version: "0.1.0".to_owned(),
            date: "2026-11-21 21:45:26 +0000".to_owned(),
            sections: vec![
                Section {
                    name: "nginx",
                    title: "Nginx processes",
                    processes: vec![],
                },
                Section {
                    name: "ferry",
                    title: "Ferry processes",
                    processes: vec![
                        process(5947, 1, Some(4915), "/usr/bin/ferry start /srv/app"),
                        process(23793, 5947, None, "Ferry PythonApp: /srv/app"),
                    ],
                },
            ],
        }
    }

    #[test]
    fn lays_out_sections_like_passenger_memory_stats() {
        let expected = "\
Version : ferry 0.1.0
Date    : 2026-11-21 21:45:26 +0000

--- Nginx processes ---
### Processes: 0

-------------------------- Ferry processes --------------------------
PID    PPID  Threads  VMSize   Private  Name
---------------------------------------------------------------------
5947   1     3        90.6 MB  4.8 MB   /usr/bin/ferry start /srv/app
23793  5947  3        90.6 MB  ?        Ferry PythonApp: /srv/app
### Processes: 2
### Total private dirty RSS: 4.80 MB (?)

*** The private dirty RSS of other users' processes is unknown (?): only root can read it. \
Run as root to see all.
";
        assert_eq!(render_text(&report(), 120), expected);
    }

    #[test]
    fn cuts_names_to_the_width() {
        let mut report = report();
        report.sections.remove(0);
        report.sections[0].processes.truncate(1);
        let text = render_text(&report, 50);
        assert!(text.contains("\n5947  1     3        90.6 MB  4.8 MB   /usr/bin/fe\n"));
        assert!(text.ends_with("### Total private dirty RSS: 4.80 MB\n"));
        assert!(text.lines().all(|l| l.len() <= 50), "{text}");
    }
}
