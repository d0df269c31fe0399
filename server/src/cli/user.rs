//! `tessera user add|grant|token|list|revoke`: accounts and their roles in `DIR/access.db`.

use server::access::store::AccessRows;
use server::access::{Role, new_secret, token_hash};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct UserArgs {
    #[command(subcommand)]
    command: UserCommand,
}

#[derive(clap::Subcommand)]
enum UserCommand {
    /// Add a user with a role and print their new token (shown this once).
    Add {
        name: String,
        #[command(flatten)]
        grant: GrantArgs,
    },
    /// Give an existing user a role in a project (or everywhere), replacing the one
    /// they had there.
    Grant {
        name: String,
        #[command(flatten)]
        grant: GrantArgs,
    },
    /// Issue another token for a user (earlier ones keep working) and print it once.
    Token {
        name: String,
        #[command(flatten)]
        data: DataArg,
    },
    /// List users, their roles and how many tokens they hold.
    List {
        #[command(flatten)]
        data: DataArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a user: every token and session of theirs stops working at once.
    Revoke {
        name: String,
        #[command(flatten)]
        data: DataArg,
    },
}

#[derive(clap::Args)]
struct DataArg {
    /// Data directory (holds `access.db`).
    #[arg(long, default_value = ".")]
    data: PathBuf,
    #[command(flatten)]
    store: super::StoreArg,
}

#[derive(clap::Args)]
struct GrantArgs {
    /// viewer, annotator, reviewer or admin.
    #[arg(long)]
    role: String,
    /// The project the role holds in; every project when absent.
    #[arg(long)]
    project: Option<String>,
    #[command(flatten)]
    data: DataArg,
}

fn open(data: &DataArg) -> anyhow::Result<Box<dyn AccessRows>> {
    super::open_access(&data.data, &data.store)
}

fn role_and_project(g: &GrantArgs, conn: &dyn AccessRows) -> anyhow::Result<(Role, String)> {
    let role = Role::parse(&g.role).ok_or_else(|| {
        anyhow::anyhow!(
            "--role {:?}: expected viewer, annotator, reviewer or admin",
            g.role
        )
    })?;
    let project = g.project.clone().unwrap_or_default();
    if !project.is_empty() && !conn.project_exists(&project)? {
        anyhow::bail!("no project {project:?} (create it with `tessera project create {project}`)");
    }
    Ok((role, project))
}

fn valid_name(name: &str) -> anyhow::Result<()> {
    server::slide_id::validate(name).map_err(|e| anyhow::anyhow!("user name {name:?}: {e}"))?;
    anyhow::ensure!(
        name != server::access::SINGLE_USER,
        "{name:?} is the single-user mode's name; choose another"
    );
    Ok(())
}

pub fn run(args: &UserArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        UserCommand::Add { name, grant } => {
            valid_name(name)?;
            let conn = open(&grant.data)?;
            let (role, project) = role_and_project(grant, &*conn)?;
            if conn.user_exists(name)? {
                anyhow::bail!(
                    "user {name:?} exists: `tessera user grant {name} --role …` changes a role, \
                     `tessera user token {name}` issues a token"
                );
            }
            let token = new_secret("tsr_");
            conn.add_user(name, role, &project, &token_hash(&token))?;
            eprintln!(
                "added {name} as {}{}; the token below is shown only now:",
                role.as_str(),
                scope(&project)
            );
            println!("{token}");
        }
        UserCommand::Grant { name, grant } => {
            let conn = open(&grant.data)?;
            let (role, project) = role_and_project(grant, &*conn)?;
            anyhow::ensure!(conn.user_exists(name)?, "no user {name:?}");
            conn.grant(name, role, &project)?;
            println!("{name} is {}{}", role.as_str(), scope(&project));
        }
        UserCommand::Token { name, data } => {
            let conn = open(data)?;
            anyhow::ensure!(conn.user_exists(name)?, "no user {name:?}");
            let token = new_secret("tsr_");
            conn.add_token(name, &token_hash(&token))?;
            eprintln!("a new token for {name}, shown only now:");
            println!("{token}");
        }
        UserCommand::List { data, json } => {
            let users = open(data)?.users()?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&users)?);
            } else if users.is_empty() {
                println!("no users: the server runs single-user, on loopback only");
            } else {
                for u in users {
                    let roles: Vec<String> = u
                        .grants
                        .iter()
                        .map(|(p, r)| format!("{r}{}", scope(p)))
                        .collect();
                    println!(
                        "{:<20} {:<40} {} token(s){}",
                        u.name,
                        roles.join(", "),
                        u.tokens,
                        if u.revoked { "  REVOKED" } else { "" }
                    );
                }
            }
        }
        UserCommand::Revoke { name, data } => {
            let conn = open(data)?;
            anyhow::ensure!(conn.revoke(name)?, "no user {name:?}");
            println!("revoked {name}: their tokens and sessions no longer work");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn scope(project: &str) -> String {
    if project.is_empty() {
        " in every project".to_string()
    } else {
        format!(" in project {project}")
    }
}
