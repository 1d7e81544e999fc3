//! Who may call what: the one table that maps every gRPC method of the suite to the
//! action it needs, and the actions each role is granted. The guard consults it on
//! every call, before any handler runs; a method missing from the table is refused
//! (fail closed). Which *records* a permitted caller sees is not decided here: that is
//! each store's scope filter.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::Role;

/// What a method does, as far as permissions go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read clients, deals, timelines, tasks and conversations (within scope).
    ReadRecords,
    /// Create and change them: leads, contacts, notes, tasks, deals and their moves.
    WriteRecords,
    /// Give a record to an owner (an agent to themselves, a manager within teams).
    AssignRecords,
    /// Merge two records into one.
    MergeRecords,
    /// Delete a record for good.
    DeleteRecords,
    /// File a note on a call: an agent's own, or a service's for the agent who typed
    /// it into a card.
    NoteCalls,
    /// Turn what a channel received into a party (a stranger becomes a lead).
    ResolveParties,
    /// Pipelines and their stages.
    ManagePipelines,
    /// The funnel, win rate, forecast and their drill-downs.
    ReadReports,
    /// The staff directory: who sits at an extension, who takes leads.
    ReadStaff,
    /// The names of the people records name (owners, authors): not the directory.
    ReadNames,
    /// Teams and their heads, and any person's account (an admin's).
    ManageStaff,
    /// Add, change, deactivate people and set their passwords: an admin anyone's, a
    /// manager the agents of their own teams (staff checks which).
    ManagePeople,
    /// Open to anyone, with no token: the method checks a credential of its own (an
    /// API token exchanged for an access token). Only methods listed with it are open.
    Anyone,
    /// Sign people in and open their sessions: the web front's, for browsers.
    SignPeopleIn,
    /// Change one's own password, end one's own sessions.
    ManageOwnAccount,
    /// Read the audit trail.
    ReadAudit,
    /// Add to the audit trail what happened elsewhere: a service's.
    WriteAudit,
    /// Receive one's own call cards and alerts.
    ReceivePushes,
    /// Write to a client through a channel (Telegram, email); read the canned
    /// answers.
    MessageClients,
    /// Write and remove the office's canned answers.
    ManageReplies,
    /// Read how the channels (listeners, the bot, mailboxes, webhooks, web forms)
    /// are doing, with their last errors.
    ReadChannels,
}

use Action::*;

/// Every method of the suite and the action it needs. A method that is not here is
/// refused for everyone.
pub const METHODS: &[(&str, Action)] = &[
    // contacts
    ("/ringside.contacts.v1.Contacts/CreateCompany", WriteRecords),
    ("/ringside.contacts.v1.Contacts/GetCompany", ReadRecords),
    ("/ringside.contacts.v1.Contacts/ListCompanies", ReadRecords),
    ("/ringside.contacts.v1.Contacts/CreateContact", WriteRecords),
    ("/ringside.contacts.v1.Contacts/GetContact", ReadRecords),
    ("/ringside.contacts.v1.Contacts/UpdateContact", WriteRecords),
    (
        "/ringside.contacts.v1.Contacts/DeleteContact",
        DeleteRecords,
    ),
    ("/ringside.contacts.v1.Contacts/ListContacts", ReadRecords),
    ("/ringside.contacts.v1.Contacts/MergeContacts", MergeRecords),
    ("/ringside.contacts.v1.Contacts/CreateLead", WriteRecords),
    ("/ringside.contacts.v1.Contacts/GetLead", ReadRecords),
    ("/ringside.contacts.v1.Contacts/ListLeads", ReadRecords),
    ("/ringside.contacts.v1.Contacts/SetLeadStatus", WriteRecords),
    ("/ringside.contacts.v1.Contacts/AssignLead", AssignRecords),
    ("/ringside.contacts.v1.Contacts/UpdateLead", WriteRecords),
    ("/ringside.contacts.v1.Contacts/ConvertLead", WriteRecords),
    ("/ringside.contacts.v1.Contacts/LookupByPhone", ReadRecords),
    ("/ringside.contacts.v1.Contacts/Resolve", ResolveParties),
    // activities
    ("/ringside.activities.v1.Activities/Timeline", ReadRecords),
    (
        "/ringside.activities.v1.Activities/ClientHistory",
        ReadRecords,
    ),
    ("/ringside.activities.v1.Activities/GetEntry", ReadRecords),
    (
        "/ringside.activities.v1.Activities/GetCallEntry",
        ReadRecords,
    ),
    ("/ringside.activities.v1.Activities/AddCallNote", NoteCalls),
    (
        "/ringside.activities.v1.Activities/ListConversations",
        ReadRecords,
    ),
    ("/ringside.activities.v1.Activities/ListInbox", ReadRecords),
    (
        "/ringside.activities.v1.Activities/GetConversation",
        ReadRecords,
    ),
    (
        "/ringside.activities.v1.Activities/ListReplies",
        MessageClients,
    ),
    (
        "/ringside.activities.v1.Activities/SaveReply",
        ManageReplies,
    ),
    (
        "/ringside.activities.v1.Activities/DeleteReply",
        ManageReplies,
    ),
    ("/ringside.activities.v1.Activities/AddNote", WriteRecords),
    ("/ringside.activities.v1.Activities/LogCall", WriteRecords),
    ("/ringside.activities.v1.Activities/EditNote", WriteRecords),
    (
        "/ringside.activities.v1.Activities/DeleteNote",
        WriteRecords,
    ),
    (
        "/ringside.activities.v1.Activities/NoteHistory",
        ReadRecords,
    ),
    (
        "/ringside.activities.v1.Activities/CreateTask",
        WriteRecords,
    ),
    ("/ringside.activities.v1.Activities/GetTask", ReadRecords),
    (
        "/ringside.activities.v1.Activities/UpdateTask",
        WriteRecords,
    ),
    (
        "/ringside.activities.v1.Activities/CompleteTask",
        WriteRecords,
    ),
    (
        "/ringside.activities.v1.Activities/CancelTask",
        WriteRecords,
    ),
    ("/ringside.activities.v1.Activities/ListTasks", ReadRecords),
    ("/ringside.activities.v1.Activities/NextAction", ReadRecords),
    (
        "/ringside.activities.v1.Activities/ListSubjects",
        ReadRecords,
    ),
    // deals
    ("/ringside.deals.v1.Deals/CreatePipeline", ManagePipelines),
    ("/ringside.deals.v1.Deals/GetPipeline", ReadRecords),
    ("/ringside.deals.v1.Deals/ListPipelines", ReadRecords),
    ("/ringside.deals.v1.Deals/UpdateStage", ManagePipelines),
    ("/ringside.deals.v1.Deals/AddStage", ManagePipelines),
    ("/ringside.deals.v1.Deals/RenamePipeline", ManagePipelines),
    ("/ringside.deals.v1.Deals/CreateDeal", WriteRecords),
    ("/ringside.deals.v1.Deals/GetDeal", ReadRecords),
    ("/ringside.deals.v1.Deals/UpdateDeal", WriteRecords),
    ("/ringside.deals.v1.Deals/MoveDeal", WriteRecords),
    ("/ringside.deals.v1.Deals/WinDeal", WriteRecords),
    ("/ringside.deals.v1.Deals/LoseDeal", WriteRecords),
    ("/ringside.deals.v1.Deals/ReopenDeal", WriteRecords),
    ("/ringside.deals.v1.Deals/StageHistory", ReadRecords),
    ("/ringside.deals.v1.Deals/ListDeals", ReadRecords),
    ("/ringside.deals.v1.Deals/Kanban", ReadRecords),
    ("/ringside.deals.v1.Deals/KanbanColumn", ReadRecords),
    ("/ringside.deals.v1.Deals/SaveView", WriteRecords),
    ("/ringside.deals.v1.Deals/ListViews", ReadRecords),
    ("/ringside.deals.v1.Deals/DeleteView", WriteRecords),
    ("/ringside.deals.v1.Deals/Funnel", ReadReports),
    ("/ringside.deals.v1.Deals/DrillDown", ReadReports),
    ("/ringside.deals.v1.Deals/Forecast", ReadReports),
    // staff
    ("/ringside.staff.v1.Staff/CreateUser", ManagePeople),
    ("/ringside.staff.v1.Staff/GetUser", ReadStaff),
    ("/ringside.staff.v1.Staff/UpdateUser", ManagePeople),
    ("/ringside.staff.v1.Staff/SetUserActive", ManagePeople),
    ("/ringside.staff.v1.Staff/ListUsers", ReadStaff),
    ("/ringside.staff.v1.Staff/FindUser", ReadStaff),
    ("/ringside.staff.v1.Staff/NamesOf", ReadNames),
    ("/ringside.staff.v1.Staff/CreateTeam", ManageStaff),
    ("/ringside.staff.v1.Staff/UpdateTeam", ManageStaff),
    ("/ringside.staff.v1.Staff/ListTeams", ReadStaff),
    ("/ringside.staff.v1.Staff/SignIn", SignPeopleIn),
    ("/ringside.staff.v1.Staff/SignInWithCode", SignPeopleIn),
    ("/ringside.staff.v1.Staff/StartProviderSignIn", SignPeopleIn),
    (
        "/ringside.staff.v1.Staff/FinishProviderSignIn",
        SignPeopleIn,
    ),
    ("/ringside.staff.v1.Staff/OpenSession", SignPeopleIn),
    ("/ringside.staff.v1.Staff/SignOut", SignPeopleIn),
    (
        "/ringside.staff.v1.Staff/SignOutEverywhere",
        ManageOwnAccount,
    ),
    ("/ringside.staff.v1.Staff/EndSessions", ManagePeople),
    ("/ringside.staff.v1.Staff/SetPassword", ManagePeople),
    ("/ringside.staff.v1.Staff/ChangePassword", ManageOwnAccount),
    (
        "/ringside.staff.v1.Staff/UpdateMyPreferences",
        ManageOwnAccount,
    ),
    ("/ringside.staff.v1.Staff/CreatePasswordLink", ManagePeople),
    ("/ringside.staff.v1.Staff/SetPasswordWithLink", SignPeopleIn),
    ("/ringside.staff.v1.Staff/StartTwoFactor", ManageOwnAccount),
    (
        "/ringside.staff.v1.Staff/ConfirmTwoFactor",
        ManageOwnAccount,
    ),
    (
        "/ringside.staff.v1.Staff/DisableTwoFactor",
        ManageOwnAccount,
    ),
    ("/ringside.staff.v1.Staff/ResetTwoFactor", ManagePeople),
    ("/ringside.staff.v1.Staff/ListAudit", ReadAudit),
    ("/ringside.staff.v1.Staff/RecordAudit", WriteAudit),
    ("/ringside.staff.v1.Staff/CreateApiToken", ManageOwnAccount),
    ("/ringside.staff.v1.Staff/ListApiTokens", ManageOwnAccount),
    ("/ringside.staff.v1.Staff/RevokeApiToken", ManageOwnAccount),
    ("/ringside.staff.v1.Staff/ExchangeApiToken", Anyone),
    // notifications
    (
        "/ringside.notifications.v1.Notifications/ListOnline",
        ReadStaff,
    ),
    (
        "/ringside.notifications.v1.Notifications/Subscribe",
        ReceivePushes,
    ),
    (
        "/ringside.notifications.v1.Notifications/AddCallNote",
        WriteRecords,
    ),
    (
        "/ringside.notifications.v1.Notifications/SendMessage",
        MessageClients,
    ),
    ("/ringside.ingest.v1.Ingest/ListChannels", ReadChannels),
];

/// The actions each role is granted.
pub fn grants(role: Role) -> &'static [Action] {
    match role {
        Role::Admin => &[
            ReadRecords,
            ReadNames,
            WriteRecords,
            NoteCalls,
            AssignRecords,
            MergeRecords,
            DeleteRecords,
            ManagePipelines,
            ReadReports,
            ReadStaff,
            ManageStaff,
            ManagePeople,
            ManageOwnAccount,
            ReadAudit,
            ReceivePushes,
            MessageClients,
            ManageReplies,
            ReadChannels,
        ],
        Role::Manager => &[
            ReadRecords,
            ReadNames,
            WriteRecords,
            NoteCalls,
            AssignRecords,
            MergeRecords,
            DeleteRecords,
            ReadReports,
            ReadStaff,
            ManagePeople,
            ManageOwnAccount,
            ReceivePushes,
            MessageClients,
            ManageReplies,
        ],
        Role::Agent => &[
            ReadRecords,
            ReadNames,
            WriteRecords,
            NoteCalls,
            AssignRecords,
            ManageOwnAccount,
            ReceivePushes,
            MessageClients,
        ],
        // What one service asks another: who a party is, their history for a card,
        // who sits at an extension; the note an agent typed into a card; signing a
        // browser in. A service changes no other records through another's API.
        Role::Service => &[
            ReadRecords,
            NoteCalls,
            ResolveParties,
            ReadStaff,
            SignPeopleIn,
            WriteAudit,
        ],
    }
}

static BY_PATH: LazyLock<HashMap<&'static str, Action>> =
    LazyLock::new(|| METHODS.iter().copied().collect());

/// The action the method at `path` (`/package.Service/Method`) needs; `None` for a
/// method the table does not know.
pub fn action(path: &str) -> Option<Action> {
    BY_PATH.get(path).copied()
}

/// Why a call was refused, before it reached its handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The method is not in the table.
    UnknownMethod,
    /// The caller's role is not granted the method's action.
    NotGranted(Action),
}

/// Whether `role` is granted `action`: for what is not a gRPC method (the agent's
/// socket, pages).
pub fn allows(role: Role, action: Action) -> bool {
    grants(role).contains(&action)
}

/// Whether `role` may call the method at `path` (every role may call a method open
/// to anyone).
pub fn check(role: Role, path: &str) -> Result<Action, Refusal> {
    check_action(role, action(path))
}

/// [`check`] for a method already looked up (`None`: not in the table).
pub fn check_action(role: Role, action: Option<Action>) -> Result<Action, Refusal> {
    let action = action.ok_or(Refusal::UnknownMethod)?;
    match action == Anyone || allows(role, action) {
        true => Ok(action),
        false => Err(Refusal::NotGranted(action)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_is_listed_once() {
        assert_eq!(BY_PATH.len(), METHODS.len(), "a method is listed twice");
    }

    #[test]
    fn unknown_methods_are_refused_for_everyone() {
        for role in [Role::Admin, Role::Manager, Role::Agent, Role::Service] {
            assert_eq!(
                check(role, "/ringside.contacts.v1.Contacts/DropEverything"),
                Err(Refusal::UnknownMethod)
            );
        }
    }

    #[test]
    fn an_agent_cannot_manage_staff_or_merge() {
        let upsert = "/ringside.staff.v1.Staff/UpdateUser";
        assert_eq!(
            check(Role::Agent, upsert),
            Err(Refusal::NotGranted(ManagePeople))
        );
        assert_eq!(check(Role::Admin, upsert), Ok(ManagePeople));
        assert_eq!(check(Role::Manager, upsert), Ok(ManagePeople));
        let team = "/ringside.staff.v1.Staff/UpdateTeam";
        assert_eq!(
            check(Role::Manager, team),
            Err(Refusal::NotGranted(ManageStaff))
        );
        let merge = "/ringside.contacts.v1.Contacts/MergeContacts";
        assert_eq!(
            check(Role::Agent, merge),
            Err(Refusal::NotGranted(MergeRecords))
        );
    }
}
