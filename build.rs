//! Rebuild when a migration is added (the embedded migrator reads the directory at compile time).

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
