//! `enteraksi`: the command-line entry point.

fn main() {
    println!("enteraksi");
}
