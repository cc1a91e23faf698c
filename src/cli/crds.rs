//! `remedy crds`: print the CustomResourceDefinitions, or write them to a directory.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::api::crd;

/// Print the three CustomResourceDefinitions as YAML.
#[derive(Debug, Args)]
pub struct CrdsArgs {
    /// Write one file per CRD into this directory instead of printing.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// Run `remedy crds`.
pub fn run(args: &CrdsArgs) -> ExitCode {
    match &args.out_dir {
        None => match crd::to_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot render the CRDs as YAML: {e}");
                ExitCode::from(2)
            }
        },
        Some(dir) => {
            let files = match crd::files() {
                Ok(files) => files,
                Err(e) => {
                    eprintln!("error: cannot render the CRDs as YAML: {e}");
                    return ExitCode::from(2);
                }
            };
            if let Err(e) = std::fs::create_dir_all(dir) {
                eprintln!("error: cannot create {}: {e}", dir.display());
                return ExitCode::from(2);
            }
            for (name, yaml) in files {
                let path = dir.join(name);
                if let Err(e) = std::fs::write(&path, yaml) {
                    eprintln!("error: cannot write {}: {e}", path.display());
                    return ExitCode::from(2);
                }
                println!("wrote {}", path.display());
            }
            ExitCode::SUCCESS
        }
    }
}
