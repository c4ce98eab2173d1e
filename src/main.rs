fn main() -> std::process::ExitCode {
    iiko_bridge::cli::main()
}
