//! How the user invokes pipelab, for the commands a command prints to paste.

/// How a user runs this binary from a new shell: `pipelab` when that is what PATH finds,
/// else the path this process was started from (`cargo run` puts nothing on PATH),
/// quoted for the shell when it has to be.
pub(crate) fn command_name() -> String {
    let Ok(exe) = std::env::current_exe().and_then(|p| p.canonicalize()) else {
        return "pipelab".into();
    };
    let on_path = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths)
            .any(|dir| dir.join("pipelab").canonicalize().is_ok_and(|p| p == exe))
    });
    let path = exe.display().to_string();
    if on_path {
        "pipelab".into()
    } else if path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c))
    {
        path
    } else {
        format!("'{}'", path.replace('\'', "'\\''"))
    }
}
