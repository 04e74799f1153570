//! Finds out, at build time, which browsers the browser tests (`tests/browser`) can drive, so a
//! run without one reports those tests as *ignored* in its summary (with the reason and the
//! install command) instead of letting "all passed" hide that a browser never ran.
//!
//! `TRANSPORT_LAB_REQUIRE_BROWSER=1` (CI) marks every engine present: its tests then run, and a
//! missing browser fails them.

use std::path::PathBuf;

/// Each engine: its cfg name, the browser binaries (any one), its WebDriver server.
const ENGINES: [(&str, &[&str], &str); 2] = [
    (
        "browser_chromium",
        &["chromium", "chromium-browser"],
        "chromedriver",
    ),
    (
        "browser_firefox",
        &["firefox-esr", "firefox"],
        "geckodriver",
    ),
];

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn main() {
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-env-changed=TRANSPORT_LAB_REQUIRE_BROWSER");
    let required = std::env::var("TRANSPORT_LAB_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    for (cfg, browsers, driver) in ENGINES {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        let found = browsers
            .iter()
            .find_map(|b| on_path(b))
            .zip(on_path(driver));
        if let Some((browser, driver)) = &found {
            // A browser removed later is noticed too.
            println!("cargo::rerun-if-changed={}", browser.display());
            println!("cargo::rerun-if-changed={}", driver.display());
        }
        if found.is_some() || required {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
