//! `campaignd user import|list`: a contact center's users (SPEC §9), loaded
//! from their v4 form.

use anyhow::Context as _;
use campaignd_model::{ContactCenterName, UserDocument};
use campaignd_store::{Page, Store, StoreError, UserRecord};

use crate::cli::admin::campaigns::Problems;
use crate::cli::admin::center;
use crate::cli::args::{UserDeleteArgs, UserImportArgs, UserListArgs};
use crate::cli::input::{open_input, progress_bar};
use crate::cli::output::print_table;
use crate::cli::records::{Record, Records};

fn center_name(name: &str) -> anyhow::Result<ContactCenterName> {
    name.parse().map_err(|e| anyhow::anyhow!("--center: {e}"))
}

/// Imports users all or nothing: every record is read and checked first,
/// every problem reported by record and line, and nothing written unless
/// all are good.
pub(crate) async fn import(store: &dyn Store, args: &UserImportArgs) -> anyhow::Result<()> {
    let center = center(store, &center_name(&args.center)?).await?;
    let (input, _) = open_input(&args.file)?;
    let mut problems = Problems::default();
    let mut records = Vec::new();
    for (index, record) in Records::new(input).enumerate() {
        match record? {
            Record::Invalid(pos, problem) => problems.add(pos, &problem),
            Record::Value(pos, value) => match UserDocument::parse(&value) {
                Ok(document) => records.push(UserRecord { index, document }),
                Err(errors) => {
                    let at = pos.to_string();
                    for (field, messages) in errors.iter() {
                        for m in messages {
                            problems.add(at.as_str(), &format!("{field}: {m}"));
                        }
                    }
                }
            },
        }
    }
    if problems.count > 0 {
        problems.report();
        anyhow::bail!("{} problem(s); nothing was imported", problems.count);
    }
    let bar = progress_bar(Some(records.len() as u64), "importing users");
    let sink = bar.clone();
    let progress: campaignd_store::Progress = std::sync::Arc::new(move |n| sink.set_position(n));
    let result = store.import_users(center.id, records, Some(progress)).await;
    bar.finish_and_clear();
    match result {
        Ok(n) => {
            eprintln!("imported {n} user(s) into {:?}", center.name.as_str());
            Ok(())
        }
        Err(StoreError::ImportRejected(refused)) => {
            for p in &refused {
                problems.add(
                    format!("record {}", p.index + 1),
                    &format!("{}: {}", p.field, p.message),
                );
            }
            problems.report();
            anyhow::bail!("{} problem(s); nothing was imported", problems.count)
        }
        Err(e) => Err(e).context("cannot import the users"),
    }
}

/// Lists a center's users by id: a table, or one JSON object per line.
pub(crate) async fn list(store: &dyn Store, args: &UserListArgs) -> anyhow::Result<()> {
    let center = center(store, &center_name(&args.center)?).await?;
    let mut page = Page::default();
    let mut rows = Vec::new();
    loop {
        let found = store
            .list_users(center.id, page)
            .await
            .context("cannot list users")?;
        for user in &found.users {
            if args.json {
                println!("{}", serde_json::to_string(user)?);
            } else {
                rows.push(vec![
                    user.id.to_string(),
                    user.name.clone(),
                    user.email.clone(),
                ]);
            }
        }
        page.offset += found.users.len() as u64;
        if found.users.is_empty() || page.offset >= found.total {
            break;
        }
    }
    if !args.json {
        print_table(&["ID", "NAME", "EMAIL"], &rows)?;
        eprintln!("{} user(s)", rows.len());
    }
    Ok(())
}

/// Deletes a user of a center, and with it every assignment it has.
pub(crate) async fn delete(store: &dyn Store, args: &UserDeleteArgs) -> anyhow::Result<()> {
    let center = center(store, &center_name(&args.center)?).await?;
    let Some(id) = campaignd_model::UserId::new(args.user_id) else {
        anyhow::bail!("USER_ID must be a positive integer");
    };
    if !store
        .delete_user(center.id, id)
        .await
        .context("cannot delete the user")?
    {
        anyhow::bail!("{:?} has no user {id}", center.name.as_str());
    }
    eprintln!(
        "deleted user {id} of {:?} and its assignments",
        center.name.as_str()
    );
    Ok(())
}
