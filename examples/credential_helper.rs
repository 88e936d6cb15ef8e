//! A credential helper: named secrets in an encrypted store in the user's data directory.
//!
//! ```text
//! credential_helper [--dir DIR] add NAME         # the secret: one line on stdin
//! credential_helper [--dir DIR] get NAME         # prints it
//! credential_helper [--dir DIR] list             # the names, one a line
//! credential_helper [--dir DIR] rm NAME
//! credential_helper [--dir DIR] rotate-password  # the new password: MICROKV_NEW_PASSWORD
//! ```
//!
//! The store's password comes from `MICROKV_PASSWORD` (a real helper would prompt on the
//! terminal; the environment keeps this example scriptable). The store is
//! `DIR/credentials.kv`, `DIR` being `--dir`, or `$XDG_DATA_HOME/microkv-credential-helper`,
//! or `~/.local/share/microkv-credential-helper`. Every change is durable before the
//! command exits (`AutoSave::OnEveryWrite`), and helpers running at the same time (or
//! beside a service holding the store open) each write under the store's write lock after
//! catching up with the others (`LockMode::Shared`, the default): none loses a write.
//!
//! ```sh
//! export MICROKV_PASSWORD='correct horse'
//! echo 'ghp_example' | cargo run --example credential_helper -- add github
//! cargo run --example credential_helper -- get github
//! ```

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use microkv::{AutoSave, Config, Credential, Error, MicroKV};

/// The namespace the secrets live in.
const SECRETS: &str = "credentials";

fn usage() -> ExitCode {
    eprintln!(
        "usage: credential_helper [--dir DIR] (add NAME | get NAME | list | rm NAME | rotate-password)\n\
         the password comes from MICROKV_PASSWORD (and the new one from MICROKV_NEW_PASSWORD)"
    );
    ExitCode::from(2)
}

/// The data directory: `--dir`, or the XDG data home, or `~/.local/share`.
fn data_dir(flag: Option<PathBuf>) -> Option<PathBuf> {
    if let Some(dir) = flag {
        return Some(dir);
    }
    let base = match std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        Some(data) => PathBuf::from(data),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".local/share"),
    };
    Some(base.join("microkv-credential-helper"))
}

fn password(var: &str) -> Result<String, String> {
    std::env::var(var).map_err(|_| format!("set {var} to the store's password"))
}

fn open(dir: &std::path::Path) -> Result<MicroKV, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let config = Config {
        autosave: AutoSave::OnEveryWrite,
        ..Default::default()
    };
    let path = dir.join("credentials.kv");
    MicroKV::open_with(
        &path,
        Credential::password(password("MICROKV_PASSWORD")?),
        config,
    )
    .map_err(|e| match e {
        Error::WrongPassword => "wrong password".to_owned(),
        Error::Locked => format!("{} is owned by another process", path.display()),
        other => format!("cannot open {}: {other}", path.display()),
    })
}

/// One line of stdin, without its line ending.
fn read_secret() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the secret from stdin: {e}"))?;
    let secret = line.trim_end_matches(['\r', '\n']).to_owned();
    if secret.is_empty() {
        return Err("the secret (one line on stdin) is empty".into());
    }
    Ok(secret)
}

fn run(dir: &std::path::Path, command: &str, name: Option<&str>) -> Result<(), String> {
    let db = open(dir)?;
    let secrets = db.namespace(SECRETS);
    let fail = |e: Error| e.to_string();
    match (command, name) {
        ("add", Some(name)) => {
            let secret = read_secret()?;
            secrets.put(name, &secret).map_err(fail)?;
        }
        ("get", Some(name)) => {
            // The bytes stay in the store's locked memory until written out.
            let secret = (secrets.get_secret_bytes(name).map_err(fail)?)
                .ok_or_else(|| format!("no credential named {name:?}"))?;
            // Copied into a buffer of our own first: the kernel cannot read secret memory.
            let mut out = secret.expose_secret().to_vec();
            out.push(b'\n');
            let written = std::io::stdout().write_all(&out);
            out.fill(0);
            written.map_err(|e| format!("cannot write to stdout: {e}"))?;
        }
        ("list", None) => {
            for name in secrets.keys_sorted().map_err(fail)? {
                println!("{name}");
            }
        }
        ("rm", Some(name)) => {
            if !secrets.remove(name).map_err(fail)? {
                return Err(format!("no credential named {name:?}"));
            }
        }
        ("rotate-password", None) => {
            let old = password("MICROKV_PASSWORD")?;
            let new = password("MICROKV_NEW_PASSWORD")?;
            db.change_password(old, new).map_err(fail)?;
        }
        _ => return Err(String::new()),
    }
    // Every change above is already durable (OnEveryWrite); close reports anything left.
    db.close().map_err(fail)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut dir = None;
    let mut rest = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dir" => match args.next() {
                Some(d) => dir = Some(PathBuf::from(d)),
                None => return usage(),
            },
            "-h" | "--help" => return usage(),
            _ => rest.push(arg),
        }
    }
    let (Some(command), name) = (rest.first(), rest.get(1)) else {
        return usage();
    };
    if rest.len() > 2 {
        return usage();
    }
    let Some(dir) = data_dir(dir) else {
        eprintln!("no data directory: pass --dir, or set XDG_DATA_HOME or HOME");
        return ExitCode::FAILURE;
    };
    match run(&dir, command, name.map(String::as_str)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) if why.is_empty() => usage(),
        Err(why) => {
            eprintln!("credential_helper: {why}");
            ExitCode::FAILURE
        }
    }
}
