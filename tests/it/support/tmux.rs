//! A tmux session on a private socket running the built binary, with condition waits.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::wait;

/// A tmux server of our own; killed on drop.
pub struct Tmux {
    socket: String,
    /// The session name.
    pub session: String,
}

/// Whether tmux exists; when it does not and engines are required, fail loudly.
pub fn available() -> bool {
    let ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("ROLLWATCH_REQUIRE_ENGINES").as_deref() != Ok("1"),
            "tmux is required for end-to-end tests (run scripts/test-all to install it)"
        );
        eprintln!("SKIPPED: tmux not installed");
    }
    ok
}

impl Tmux {
    /// Starts `cmd` (a shell command line) in a detached session of `w`×`h`.
    pub fn start(tag: &str, w: u16, h: u16, cmd: &str) -> Self {
        // One test process runs every module's tests: a counter keeps sockets apart even
        // when two tests pick the same tag.
        static N: AtomicUsize = AtomicUsize::new(0);
        let socket = format!(
            "rw-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let t = Self {
            socket,
            session: "rw".into(),
        };
        let out = t.run(&[
            "new-session",
            "-d",
            "-s",
            "rw",
            "-x",
            &w.to_string(),
            "-y",
            &h.to_string(),
            cmd,
        ]);
        assert!(
            out.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        t
    }

    /// The built binary's `watch` on `config` (written to `dir/rollwatch.toml`) in a `w`×`h`
    /// session: `LANG=C.UTF-8`, its state in `dir` (its own log in `dir/rollwatch/rollwatch.log`),
    /// no audit log, and `env` set. The command goes through a script in `dir`, so no value of
    /// `env` (a token) shows on a command line tmux shows. When rollwatch exits the pane prints
    /// `EXITED:<status>` and stays.
    pub fn watch(
        tag: &str,
        w: u16,
        h: u16,
        dir: &Path,
        config: &str,
        env: &[(&str, &str)],
    ) -> Self {
        Self::watch_audited(tag, w, h, dir, config, env, Path::new("/dev/null"))
    }

    /// [`Tmux::watch`] with its audit log in `audit` (writes need one they can append to).
    pub fn watch_audited(
        tag: &str,
        w: u16,
        h: u16,
        dir: &Path,
        config: &str,
        env: &[(&str, &str)],
        audit: &Path,
    ) -> Self {
        let cfg = dir.join("rollwatch.toml");
        std::fs::write(&cfg, config).expect("write the config");
        let mut script = String::new();
        let state = dir.display().to_string();
        for (name, value) in [("LANG", "C.UTF-8"), ("XDG_STATE_HOME", state.as_str())]
            .iter()
            .chain(env)
        {
            assert!(!value.contains('\''), "{name}: no quotes in test values");
            writeln!(script, "export {name}='{value}'").unwrap();
        }
        writeln!(
            script,
            "{} watch --config '{}' --audit-log '{}'\necho EXITED:$?\nsleep 600",
            env!("CARGO_BIN_EXE_rollwatch"),
            cfg.display(),
            audit.display()
        )
        .unwrap();
        let run = dir.join("run.sh");
        std::fs::write(&run, script).expect("write the script");
        Self::start(tag, w, h, &format!("sh '{}'", run.display()))
    }

    /// Runs a tmux command on our socket.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux runs")
    }

    /// The visible screen.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "rw"]).stdout).into_owned()
    }

    /// The screen with its scrollback.
    pub fn history(&self) -> String {
        String::from_utf8_lossy(
            &self
                .run(&["capture-pane", "-p", "-J", "-S", "-", "-t", "rw"])
                .stdout,
        )
        .into_owned()
    }

    /// Sends keys (tmux key names or literal text).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "rw"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// A pane format variable (`alternate_on`, `pane_pid`, ...).
    pub fn var(&self, name: &str) -> String {
        let f = format!("#{{{name}}}");
        String::from_utf8_lossy(&self.run(&["display", "-p", "-t", "rw", &f]).stdout)
            .trim()
            .to_owned()
    }

    /// Waits until the screen satisfies `pred`, or panics with the screen after `deadline`.
    pub fn wait_for(&self, what: &str, deadline: Duration, pred: impl Fn(&str) -> bool) -> String {
        wait::until(what, deadline, Duration::from_millis(50), || {
            let s = self.screen();
            if pred(&s) {
                Ok(s)
            } else {
                Err(format!("screen:\n{s}"))
            }
        })
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// Waits until the text of the file at `path` satisfies `pred` (a missing file reads as empty),
/// or panics with the text after `deadline`; returns the text.
pub fn wait_file(
    path: &Path,
    what: &str,
    deadline: Duration,
    pred: impl Fn(&str) -> bool,
) -> String {
    wait::until(what, deadline, Duration::from_millis(20), || {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if pred(&text) { Ok(text) } else { Err(text) }
    })
}

impl Tmux {
    /// The exit status of the pane's own process once it has exited (`remain-on-exit on`):
    /// `"0"`, `"3"`, or `"signal 6"`. tmux fills it in when it reaps the process; when tmux
    /// has not reaped it yet (a zombie it missed the SIGCHLD of), the kernel's record of the
    /// zombie (`/proc/PID/stat`, field `exit_code`) says the same thing.
    pub fn exit_status(&self, deadline: Duration) -> String {
        let pid = self.var("pane_pid");
        let exited = || {
            if self.var("pane_dead") != "1" {
                return None;
            }
            let status = self.var("pane_dead_status");
            if !status.is_empty() {
                return Some(status);
            }
            let signal = self.var("pane_dead_signal");
            if !signal.is_empty() {
                return Some(format!("signal {signal}"));
            }
            // A wait status: the low 7 bits are the signal (0: it exited), the next 8 the
            // exit code.
            zombie_exit_code(&pid).map(|code| match code & 0x7f {
                0 => (code >> 8).to_string(),
                signal => format!("signal {signal}"),
            })
        };
        wait::until(
            "the pane's process to exit",
            deadline,
            Duration::from_millis(20),
            || exited().ok_or_else(|| self.screen()),
        )
    }
}

/// The wait status of zombie `pid` from `/proc/PID/stat`.
fn zombie_exit_code(pid: &str) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After the command: state is field 3, exit_code field 52 (index 49 from the state).
    if fields.first() != Some(&"Z") {
        return None;
    }
    fields.get(49)?.parse().ok()
}

/// The header line with the flag's gauge and the step plan (`flag  25% ██░░ on │ steps …`); the
/// verdict line sits above it.
pub fn flag_line(screen: &str) -> String {
    screen
        .lines()
        .find(|l| l.contains("│ steps "))
        .unwrap_or_default()
        .to_owned()
}
