//! The `main` of a custom-harness test (`harness = false`) that runs on Linux only
//! (shared with `#[macro_use] #[path = "support/linux_main.rs"] mod linux_main;`).

/// `main`: the test file's `linux::main()` on Linux; elsewhere a line saying that there
/// is nothing to run, and why (`$why`).
macro_rules! linux_only_main {
    ($name:literal, $why:literal) => {
        #[cfg(target_os = "linux")]
        fn main() {
            linux::main();
        }

        #[cfg(not(target_os = "linux"))]
        fn main() {
            println!(concat!(
                $name,
                ": Linux only (",
                $why,
                "); nothing to run here"
            ));
        }
    };
}
