//! The two languages of the pages: every string a page shows, in a table per
//! language ([`EN`], [`RU`]) — a string missing from one is a compile error, and the
//! templates name fields the compiler checks. Which language a request gets: the
//! person's choice (the `ringside_lang` cookie, set from the user menu), else the
//! first of the browser's `Accept-Language` this knows, else English. And what
//! "today" means for the person: the offset from UTC their browser's script keeps in
//! a cookie (UTC until it has run once).

use axum::http::HeaderMap;
use axum::http::header::{ACCEPT_LANGUAGE, COOKIE};
use serde::Serialize;

/// The cookie keeping a person's choice of language.
pub const COOKIE_NAME: &str = "ringside_lang";

/// A language of the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Ru,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ru => "ru",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        let primary = code.trim().split(['-', '_']).next()?;
        match primary.to_ascii_lowercase().as_str() {
            "en" => Some(Lang::En),
            "ru" => Some(Lang::Ru),
            _ => None,
        }
    }

    /// The strings of this language.
    pub fn tr(self) -> &'static Tr {
        match self {
            Lang::En => &EN,
            Lang::Ru => &RU,
        }
    }

    /// The language a request gets (see the module's note).
    pub fn of(headers: &HeaderMap) -> Lang {
        chosen(headers)
            .or_else(|| accepted(headers))
            .unwrap_or(Lang::En)
    }
}

/// The language kept in the person's cookie.
fn chosen(headers: &HeaderMap) -> Option<Lang> {
    cookie(headers, COOKIE_NAME).and_then(Lang::parse)
}

/// The cookie in which the page's script keeps the browser's offset from UTC, in
/// minutes (what "today" means for the person).
pub const OFFSET_COOKIE: &str = "ringside_utc_offset";

/// The person's offset from UTC, as their browser last said; UTC until it has.
pub fn utc_offset(headers: &HeaderMap) -> time::UtcOffset {
    cookie(headers, OFFSET_COOKIE)
        .and_then(offset_of)
        .unwrap_or(time::UtcOffset::UTC)
}

/// An offset from UTC given in minutes (as a page's script sends it), if it is one.
pub fn offset_of(minutes: &str) -> Option<time::UtcOffset> {
    let minutes = minutes.trim().parse::<i32>().ok()?;
    if minutes.abs() > 14 * 60 {
        return None;
    }
    time::UtcOffset::from_whole_seconds(minutes * 60).ok()
}

/// The value of the cookie called `name`.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The browser's most wanted language of the two (by `q`, then by order).
fn accepted(headers: &HeaderMap) -> Option<Lang> {
    let list = headers.get(ACCEPT_LANGUAGE)?.to_str().ok()?;
    let mut best: Option<(f32, Lang)> = None;
    for item in list.split(',').take(32) {
        let mut parts = item.split(';');
        let Some(lang) = parts.next().and_then(Lang::parse) else {
            continue;
        };
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
            best = Some((q, lang));
        }
    }
    best.map(|(_, lang)| lang)
}

impl Tr {
    /// "3 deals", "3 сделки".
    pub fn deals_count(&self, n: i64) -> String {
        let n = n.unsigned_abs();
        let word = match self.lang {
            Lang::Ru => ru_plural(n, self.deal_one, self.deal_few, self.deal_many),
            Lang::En if n == 1 => self.deal_one,
            Lang::En => self.deal_many,
        };
        format!("{n} {word}")
    }
}

/// The Russian plural form of `n` among `one` (1, 21), `few` (2–4, 22–24) and
/// `many` (0, 5–20, 25…).
pub fn ru_plural<'a>(n: u64, one: &'a str, few: &'a str, many: &'a str) -> &'a str {
    match (n % 10, n % 100) {
        (1, m) if m != 11 => one,
        (2..=4, m) if !(12..=14).contains(&m) => few,
        _ => many,
    }
}

/// The call bar's strings, which its script reads from the page.
#[derive(Debug, Serialize)]
pub struct BarText {
    pub connecting: &'static str,
    pub online: &'static str,
    pub reconnecting: &'static str,
    pub new_lead: &'static str,
    pub tags: &'static str,
    pub open_deals: &'static str,
    pub recent: &'static str,
    pub last_call: &'static str,
    pub tasks: &'static str,
    pub due: &'static str,
    pub ringing: &'static str,
    pub answered_by: &'static str,
    pub closed: &'static str,
    pub loading: &'static str,
    pub note_placeholder: &'static str,
    pub note_label: &'static str,
    pub outcome_placeholder: &'static str,
    pub outcome_label: &'static str,
    pub save_note: &'static str,
    pub saving: &'static str,
    pub saved: &'static str,
    pub open_client: &'static str,
    pub dismiss: &'static str,
    pub task_due: &'static str,
    pub lead_assigned: &'static str,
    pub not_saved: &'static str,
    pub incomplete: &'static str,
    pub follow_up: &'static str,
    pub follow_up_due: &'static str,
    /// Names of what the card shows raw: entry kinds, call outcomes, the client's
    /// status, the parts still loading.
    pub words: Words,
}

/// The call bar's names for the card's raw values, by value.
#[derive(Debug, Serialize)]
pub struct Words {
    pub call: &'static str,
    pub message: &'static str,
    pub note: &'static str,
    pub form: &'static str,
    pub system: &'static str,
    pub answered: &'static str,
    pub missed: &'static str,
    pub busy: &'static str,
    pub rejected: &'static str,
    pub failed: &'static str,
    pub client: &'static str,
    pub new: &'static str,
    pub working: &'static str,
    pub qualified: &'static str,
    pub disqualified: &'static str,
    pub history: &'static str,
}

/// Every string the pages show, in one language.
#[derive(Debug)]
pub struct Tr {
    pub lang: Lang,
    pub product: &'static str,
    pub skip_to_content: &'static str,
    pub nav_label: &'static str,
    pub nav_home: &'static str,
    pub nav_search: &'static str,
    pub search_placeholder: &'static str,
    pub search_label: &'static str,
    pub search_button: &'static str,
    pub user_menu: &'static str,
    pub sign_out: &'static str,
    pub shortcuts: &'static str,
    pub shortcut_search: &'static str,
    pub shortcut_help: &'static str,
    pub close: &'static str,
    pub language_other: &'static str,
    pub call_bar: &'static str,
    pub bar: BarText,
    pub home_title: &'static str,
    // Sign-in.
    pub sign_in: &'static str,
    pub sign_in_button: &'static str,
    pub login: &'static str,
    pub password: &'static str,
    pub sign_in_with: &'static str,
    pub company_account: &'static str,
    pub second_step: &'static str,
    pub code_label: &'static str,
    pub continue_: &'static str,
    pub enrol_intro: &'static str,
    pub key: &'static str,
    pub recovery_title: &'static str,
    pub recovery_intro: &'static str,
    pub welcome_title: &'static str,
    pub welcome_code: &'static str,
    pub welcome_password: &'static str,
    pub welcome_repeat: &'static str,
    pub welcome_button: &'static str,
    pub passwords_differ: &'static str,
    pub password_set: &'static str,
    // What a refusal says (in English too, where the services' words would say
    // more than a person should read).
    pub wrong_login: &'static str,
    pub wrong_code: &'static str,
    pub step_ended: &'static str,
    pub link_refused: &'static str,
    pub too_many: &'static str,
    pub not_allowed: &'static str,
    pub check_input: &'static str,
    pub not_now: &'static str,
    pub unavailable: &'static str,
    pub went_wrong: &'static str,
    pub other_site: &'static str,
    pub provider_error: &'static str,
    pub not_started_here: &'static str,
    pub no_code: &'static str,
    pub no_state: &'static str,
    // Converting a lead.
    pub convert_lead: &'static str,
    pub convert_intro: &'static str,
    pub deal_title_optional: &'static str,
    pub currency: &'static str,
    pub convert_button: &'static str,
    pub bad_deal_draft: &'static str,
    // Reports.
    pub nav_reports: &'static str,
    pub reports_title: &'static str,
    pub pipeline: &'static str,
    pub period_from: &'static str,
    pub period_to: &'static str,
    pub show: &'static str,
    pub funnel: &'static str,
    pub funnel_chart: &'static str,
    pub stage: &'static str,
    pub entered: &'static str,
    pub moved_on: &'static str,
    pub lost_here: &'static str,
    pub to_next: &'static str,
    pub to_won: &'static str,
    pub median_stay: &'static str,
    pub won_count: &'static str,
    pub lost_count: &'static str,
    pub win_rate: &'static str,
    pub by_owner: &'static str,
    pub forecast: &'static str,
    pub month: &'static str,
    pub no_close_date: &'static str,
    pub days_short: &'static str,
    pub hours_short: &'static str,
    pub minutes_short: &'static str,
    pub drill_title: &'static str,
    pub back_to_reports: &'static str,
    // The deal page.
    pub deal_label: &'static str,
    pub deal_open: &'static str,
    pub deal_won: &'static str,
    pub deal_lost: &'static str,
    pub stage_path: &'static str,
    pub deal_facts: &'static str,
    pub amount: &'static str,
    pub expected_close: &'static str,
    pub next_step: &'static str,
    pub lost_because: &'static str,
    pub mark_won: &'static str,
    pub mark_lost: &'static str,
    pub lost_why: &'static str,
    pub lost_reason_needed: &'static str,
    pub reopen: &'static str,
    pub stage_history: &'static str,
    pub still_here: &'static str,
    pub role_decision_maker: &'static str,
    pub role_economic_buyer: &'static str,
    pub role_influencer: &'static str,
    pub role_user: &'static str,
    pub role_other: &'static str,
    // The deals board.
    pub nav_deals: &'static str,
    pub deals_title: &'static str,
    pub pipelines: &'static str,
    pub weighted: &'static str,
    pub wip_label: &'static str,
    pub over_wip: &'static str,
    pub no_next_step: &'static str,
    pub stale: &'static str,
    pub move_to: &'static str,
    pub wip_warned: &'static str,
    pub wip_refused: &'static str,
    pub more_cards: &'static str,
    pub no_deals: &'static str,
    pub back_to_board: &'static str,
    pub deal_one: &'static str,
    pub deal_few: &'static str,
    pub deal_many: &'static str,
    // My day.
    pub my_tasks: &'static str,
    pub no_tasks_today: &'static str,
    pub overdue: &'static str,
    pub call_back: &'static str,
    pub complete: &'static str,
    pub reschedule: &'static str,
    pub move_task: &'static str,
    pub open_record: &'static str,
    pub new_leads: &'static str,
    pub no_new_leads: &'static str,
    pub bad_due: &'static str,
    pub bad_task: &'static str,
    pub more_tasks: &'static str,
    pub channel_telegram: &'static str,
    pub channel_email: &'static str,
    pub channel_web: &'static str,
    pub channel_phone: &'static str,
    pub channel_manual: &'static str,
    // The client page and search.
    pub kind_contact: &'static str,
    pub kind_lead: &'static str,
    pub unassigned: &'static str,
    pub you: &'static str,
    pub lead_new: &'static str,
    pub lead_working: &'static str,
    pub lead_qualified: &'static str,
    pub lead_disqualified: &'static str,
    pub lead_converted: &'static str,
    pub entry_call: &'static str,
    pub entry_message: &'static str,
    pub entry_note: &'static str,
    pub entry_form: &'static str,
    pub entry_system: &'static str,
    pub note_length: &'static str,
    pub company: &'static str,
    pub owner: &'static str,
    pub identities: &'static str,
    pub tags: &'static str,
    pub open_tasks: &'static str,
    pub no_tasks: &'static str,
    pub open_deals: &'static str,
    pub timeline: &'static str,
    pub new_note: &'static str,
    pub add_note: &'static str,
    pub more: &'static str,
    pub no_entries: &'static str,
    pub query_too_long: &'static str,
    pub nothing_found: &'static str,
    pub leads: &'static str,
    pub contacts: &'static str,
    pub companies: &'static str,
    // The inbox.
    pub nav_inbox: &'static str,
    pub inbox_title: &'static str,
    pub inbox_views: &'static str,
    pub inbox_waiting: &'static str,
    pub inbox_mine: &'static str,
    pub inbox_unassigned: &'static str,
    pub inbox_team: &'static str,
    pub inbox_all: &'static str,
    pub inbox_empty: &'static str,
    pub inbox_pick: &'static str,
    pub inbox_older: &'static str,
    pub inbox_waiting_badge: &'static str,
    pub inbox_you_wrote: &'static str,
    pub inbox_back: &'static str,
    pub conversation_label: &'static str,
    pub client_panel: &'static str,
    pub unknown_client: &'static str,
    pub take_client: &'static str,
    pub reply_label: &'static str,
    pub reply_send: &'static str,
    pub reply_empty: &'static str,
    pub reply_failed: &'static str,
    pub reply_sent: &'static str,
    pub reply_in: &'static str,
    pub home_waiting: &'static str,
    pub home_no_waiting: &'static str,
    pub home_more_waiting: &'static str,
    // Errors as pages.
    pub not_found_title: &'static str,
    pub not_found: &'static str,
    pub error_title: &'static str,
    pub back_home: &'static str,
}

pub const EN: Tr = Tr {
    lang: Lang::En,
    product: "Ringside",
    skip_to_content: "Skip to content",
    nav_label: "Main",
    nav_home: "My day",
    nav_search: "Search",
    search_placeholder: "Name, phone, email, company, deal",
    search_label: "Who is this?",
    search_button: "Find",
    user_menu: "Account",
    sign_out: "Sign out",
    shortcuts: "Keyboard shortcuts",
    shortcut_search: "find a client",
    shortcut_help: "this list",
    close: "Close",
    language_other: "Русский",
    call_bar: "Calls",
    bar: BarText {
        connecting: "connecting…",
        online: "online",
        reconnecting: "reconnecting…",
        new_lead: "New caller — lead created",
        tags: "Tags",
        open_deals: "Open deals",
        recent: "Recent",
        last_call: "Last call",
        tasks: "Tasks",
        due: "due",
        ringing: "ringing",
        answered_by: "answered by",
        closed: "call ended",
        loading: "loading",
        note_placeholder: "Note for the timeline",
        note_label: "Note",
        outcome_placeholder: "Outcome (optional)",
        outcome_label: "Outcome",
        save_note: "Save",
        saving: "saving…",
        saved: "saved",
        open_client: "Open the client",
        dismiss: "Dismiss",
        task_due: "Task due",
        lead_assigned: "New lead for you",
        not_saved: "not saved; try again",
        incomplete: "write a note or an outcome; a follow-up needs both a title and a time",
        follow_up: "Follow-up task (optional)",
        follow_up_due: "Call back at",
        words: Words {
            call: "call",
            message: "message",
            note: "note",
            form: "form",
            system: "event",
            answered: "answered",
            missed: "missed",
            busy: "busy",
            rejected: "rejected",
            failed: "failed",
            client: "client",
            new: "new lead",
            working: "lead in progress",
            qualified: "qualified lead",
            disqualified: "disqualified lead",
            history: "history",
        },
    },
    home_title: "My day",
    sign_in: "Sign in",
    sign_in_button: "Sign in",
    login: "Login (email)",
    password: "Password",
    sign_in_with: "Sign in with",
    company_account: "your company account",
    second_step: "Second step",
    code_label: "Code from your authenticator app, or a recovery code",
    continue_: "Continue",
    enrol_intro: "Admins sign in with a second factor. Scan this code with an authenticator app (or type the key into it), then enter the six digits it shows.",
    key: "Key",
    recovery_title: "Your recovery codes",
    recovery_intro: "Two-factor sign-in is on. Keep these recovery codes somewhere safe: each one signs you in once without your phone. They are shown only now.",
    welcome_title: "Set your password",
    welcome_code: "Code from your link (the part after #)",
    welcome_password: "New password (at least 10 characters)",
    welcome_repeat: "The same password again",
    welcome_button: "Set password",
    passwords_differ: "the two passwords differ",
    password_set: "Your password is set: sign in with it.",
    wrong_login: "wrong login or password",
    wrong_code: "wrong code",
    step_ended: "this sign-in has ended; enter your password again",
    link_refused: "this link is not valid any more; ask for a new one",
    too_many: "too many sign-in attempts; try again later",
    not_allowed: "you may not do this",
    check_input: "check what you entered",
    not_now: "this cannot be done now",
    unavailable: "this is not available right now; try again soon",
    went_wrong: "something went wrong; try again",
    other_site: "refused: the request came from another site",
    provider_error: "the sign-in provider did not sign you in",
    not_started_here: "this sign-in was not started in this browser; start again",
    no_code: "the sign-in provider sent no usable code; start again",
    no_state: "the sign-in provider sent no usable state; start again",
    convert_lead: "Convert to a contact",
    convert_intro: "The contact keeps the lead's name, phones, owner and history. Name a deal to open it too.",
    deal_title_optional: "Deal (optional)",
    currency: "Currency",
    convert_button: "Convert",
    bad_deal_draft: "a deal needs a title (at most 200 characters), an amount like 1 500,00 and a currency of three letters",
    nav_reports: "Reports",
    reports_title: "Reports",
    pipeline: "Pipeline",
    period_from: "From",
    period_to: "To",
    show: "Show",
    funnel: "Funnel of the deals opened in the period",
    funnel_chart: "How many deals reached each stage",
    stage: "Stage",
    entered: "Reached",
    moved_on: "Moved on",
    lost_here: "Lost here",
    to_next: "To the next",
    to_won: "To won",
    median_stay: "Median time in stage",
    won_count: "Won",
    lost_count: "Lost",
    win_rate: "Win rate",
    by_owner: "By owner",
    forecast: "Forecast by expected close",
    month: "Month",
    no_close_date: "no date",
    days_short: "d",
    hours_short: "h",
    minutes_short: "min",
    drill_title: "The deals behind the figure",
    back_to_reports: "Back to the reports",
    deal_label: "Deal",
    deal_open: "open",
    deal_won: "won",
    deal_lost: "lost",
    stage_path: "Stages",
    deal_facts: "About the deal",
    amount: "Amount",
    expected_close: "Expected close",
    next_step: "Next step",
    lost_because: "Lost because",
    mark_won: "Mark as won",
    mark_lost: "Mark as lost",
    lost_why: "Why it was lost",
    lost_reason_needed: "say why the deal was lost (at most 500 characters)",
    reopen: "Reopen",
    stage_history: "Stage history",
    still_here: "still here",
    role_decision_maker: "decision maker",
    role_economic_buyer: "economic buyer",
    role_influencer: "influencer",
    role_user: "user",
    role_other: "other",
    nav_deals: "Deals",
    deals_title: "Deals",
    pipelines: "Pipelines",
    weighted: "weighted",
    wip_label: "limit",
    over_wip: "over the limit",
    no_next_step: "no next step",
    stale: "no progress for 30 days",
    move_to: "Move to stage",
    wip_warned: "The deal moved; its stage is now over its limit.",
    wip_refused: "That stage is full: the deal stays where it was.",
    more_cards: "More deals",
    no_deals: "No deals here.",
    back_to_board: "Back to the whole board",
    deal_one: "deal",
    deal_few: "deals",
    deal_many: "deals",
    my_tasks: "Tasks for today",
    no_tasks_today: "Nothing is due today.",
    overdue: "overdue",
    call_back: "call back",
    complete: "Done",
    reschedule: "Move to",
    move_task: "Move",
    open_record: "Open",
    new_leads: "New leads for you",
    no_new_leads: "No new leads.",
    bad_due: "pick a date and a time",
    bad_task: "a follow-up needs a title (at most 200 characters) and a date and time",
    more_tasks: "Only the first 100 are shown: finish or move some to see the rest.",
    channel_telegram: "Telegram",
    channel_email: "email",
    channel_web: "web form",
    channel_phone: "phone call",
    channel_manual: "added by hand",
    kind_contact: "Contact",
    kind_lead: "Lead",
    unassigned: "unassigned",
    you: "you",
    lead_new: "new",
    lead_working: "in progress",
    lead_qualified: "qualified",
    lead_disqualified: "disqualified",
    lead_converted: "converted",
    entry_call: "Call",
    entry_message: "Message",
    entry_note: "Note",
    entry_form: "Form",
    entry_system: "Event",
    note_length: "a note needs text, at most 10,000 characters",
    company: "Company",
    owner: "Owner",
    identities: "Phones, emails, chats",
    tags: "Tags",
    open_tasks: "Open tasks",
    no_tasks: "No open tasks.",
    open_deals: "Open deals",
    timeline: "Timeline",
    new_note: "New note",
    add_note: "Add note",
    more: "Earlier entries",
    no_entries: "Nothing has happened with this client yet.",
    query_too_long: "a search is at most 200 characters",
    nothing_found: "Nothing found that you may see.",
    leads: "Leads",
    contacts: "Contacts",
    companies: "Companies",
    nav_inbox: "Inbox",
    inbox_title: "Inbox",
    inbox_views: "Which conversations",
    inbox_waiting: "Waiting for an answer",
    inbox_mine: "Mine",
    inbox_unassigned: "Unassigned",
    inbox_team: "My teams",
    inbox_all: "All",
    inbox_empty: "No conversations here.",
    inbox_pick: "Pick a conversation to read and answer it.",
    inbox_older: "Older conversations",
    inbox_waiting_badge: "waiting",
    inbox_you_wrote: "You:",
    inbox_back: "All conversations",
    conversation_label: "Conversation",
    client_panel: "Client",
    unknown_client: "Client",
    take_client: "Take this client",
    reply_label: "Your answer",
    reply_send: "Send",
    reply_empty: "Write the answer first (up to 4,000 characters).",
    reply_failed: "The message was not sent.",
    reply_sent: "Sent.",
    reply_in: "The answer goes by",
    home_waiting: "Conversations waiting for an answer",
    home_no_waiting: "Nobody is waiting for an answer.",
    home_more_waiting: "More are waiting in the inbox.",
    not_found_title: "Not found",
    not_found: "There is nothing here, or it is not yours to see.",
    error_title: "Something went wrong",
    back_home: "Back to my day",
};

pub const RU: Tr = Tr {
    lang: Lang::Ru,
    product: "Ringside",
    skip_to_content: "Перейти к содержимому",
    nav_label: "Главное меню",
    nav_home: "Мой день",
    nav_search: "Поиск",
    search_placeholder: "Имя, телефон, почта, компания, сделка",
    search_label: "Кто это?",
    search_button: "Найти",
    user_menu: "Учётная запись",
    sign_out: "Выйти",
    shortcuts: "Сочетания клавиш",
    shortcut_search: "найти клиента",
    shortcut_help: "этот список",
    close: "Закрыть",
    language_other: "English",
    call_bar: "Звонки",
    bar: BarText {
        connecting: "подключение…",
        online: "на связи",
        reconnecting: "переподключение…",
        new_lead: "Новый клиент — создан лид",
        tags: "Метки",
        open_deals: "Открытые сделки",
        recent: "Последние события",
        last_call: "Последний звонок",
        tasks: "Задачи",
        due: "срок",
        ringing: "звонит",
        answered_by: "ответил(а)",
        closed: "звонок завершён",
        loading: "загрузка",
        note_placeholder: "Заметка в ленту клиента",
        note_label: "Заметка",
        outcome_placeholder: "Итог (необязательно)",
        outcome_label: "Итог",
        save_note: "Сохранить",
        saving: "сохранение…",
        saved: "сохранено",
        open_client: "Открыть карточку клиента",
        dismiss: "Закрыть",
        task_due: "Подошёл срок задачи",
        lead_assigned: "Вам назначен новый лид",
        not_saved: "не сохранено; попробуйте ещё раз",
        incomplete: "напишите заметку или итог; для следующей задачи нужны и название, и время",
        follow_up: "Следующая задача (необязательно)",
        follow_up_due: "Когда перезвонить",
        words: Words {
            call: "звонок",
            message: "сообщение",
            note: "заметка",
            form: "форма",
            system: "событие",
            answered: "отвечен",
            missed: "пропущен",
            busy: "занято",
            rejected: "отклонён",
            failed: "не состоялся",
            client: "клиент",
            new: "новый лид",
            working: "лид в работе",
            qualified: "квалифицированный лид",
            disqualified: "отклонённый лид",
            history: "история",
        },
    },
    home_title: "Мой день",
    sign_in: "Вход",
    sign_in_button: "Войти",
    login: "Логин (почта)",
    password: "Пароль",
    sign_in_with: "Войти через",
    company_account: "учётную запись компании",
    second_step: "Подтверждение входа",
    code_label: "Код из приложения-аутентификатора или код восстановления",
    continue_: "Продолжить",
    enrol_intro: "Администраторы входят с двухфакторной аутентификацией. Отсканируйте этот код приложением-аутентификатором (или введите в него ключ), затем введите шесть цифр, которые оно покажет.",
    key: "Ключ",
    recovery_title: "Ваши коды восстановления",
    recovery_intro: "Двухфакторный вход включён. Сохраните эти коды восстановления в надёжном месте: каждым можно один раз войти без телефона. Они показываются только сейчас.",
    welcome_title: "Задайте пароль",
    welcome_code: "Код из ссылки (часть после #)",
    welcome_password: "Новый пароль (не короче 10 символов)",
    welcome_repeat: "Тот же пароль ещё раз",
    welcome_button: "Задать пароль",
    passwords_differ: "пароли не совпадают",
    password_set: "Пароль установлен. Войдите с новым паролем.",
    wrong_login: "неверный логин или пароль",
    wrong_code: "неверный код",
    step_ended: "время на вход истекло; введите пароль ещё раз",
    link_refused: "ссылка больше не действует; попросите новую",
    too_many: "слишком много попыток входа; попробуйте позже",
    not_allowed: "у вас нет на это прав",
    check_input: "проверьте введённые данные",
    not_now: "сейчас это сделать нельзя",
    unavailable: "сейчас это недоступно; попробуйте чуть позже",
    went_wrong: "что-то пошло не так; попробуйте ещё раз",
    other_site: "отказано: запрос пришёл с другого сайта",
    provider_error: "сервис единого входа отклонил вход",
    not_started_here: "этот вход начат не в этом браузере; начните заново",
    no_code: "сервис единого входа не прислал корректного кода; начните вход заново",
    no_state: "сервис единого входа прислал некорректный ответ; начните вход заново",
    convert_lead: "Превратить в контакт",
    convert_intro: "Контакт сохранит имя, телефоны, ответственного и историю лида. Укажите сделку, чтобы открыть и её.",
    deal_title_optional: "Сделка (необязательно)",
    currency: "Валюта",
    convert_button: "Превратить",
    bad_deal_draft: "для сделки нужны название (не длиннее 200 символов), сумма вида 1 500,00 и валюта из трёх букв",
    nav_reports: "Отчёты",
    reports_title: "Отчёты",
    pipeline: "Воронка",
    period_from: "С",
    period_to: "По",
    show: "Показать",
    funnel: "Воронка сделок, открытых за период",
    funnel_chart: "Сколько сделок дошло до каждой стадии",
    stage: "Стадия",
    entered: "Дошли",
    moved_on: "Пошли дальше",
    lost_here: "Проиграны здесь",
    to_next: "В следующую",
    to_won: "В выигрыш",
    median_stay: "Медиана времени на стадии",
    won_count: "Выиграно",
    lost_count: "Проиграно",
    win_rate: "Доля выигранных",
    by_owner: "По ответственным",
    forecast: "Прогноз по ожидаемому закрытию",
    month: "Месяц",
    no_close_date: "без даты",
    days_short: "дн.",
    hours_short: "ч",
    minutes_short: "мин",
    drill_title: "Сделки за этой цифрой",
    back_to_reports: "Вернуться к отчётам",
    deal_label: "Сделка",
    deal_open: "открыта",
    deal_won: "выиграна",
    deal_lost: "проиграна",
    stage_path: "Стадии",
    deal_facts: "О сделке",
    amount: "Сумма",
    expected_close: "Ожидаемое закрытие",
    next_step: "Следующий шаг",
    lost_because: "Причина проигрыша",
    mark_won: "Отметить выигранной",
    mark_lost: "Отметить проигранной",
    lost_why: "Почему проиграна",
    lost_reason_needed: "укажите, почему сделка проиграна (не длиннее 500 символов)",
    reopen: "Открыть снова",
    stage_history: "История стадий",
    still_here: "сейчас здесь",
    role_decision_maker: "принимает решение",
    role_economic_buyer: "распоряжается бюджетом",
    role_influencer: "влияет на решение",
    role_user: "пользователь",
    role_other: "другая роль",
    nav_deals: "Сделки",
    deals_title: "Сделки",
    pipelines: "Воронки",
    weighted: "с учётом вероятности",
    wip_label: "лимит",
    over_wip: "лимит превышен",
    no_next_step: "нет следующего шага",
    stale: "без движения 30 дней",
    move_to: "Перенести на стадию",
    wip_warned: "Сделка перенесена; стадия теперь сверх лимита.",
    wip_refused: "Стадия заполнена: сделка осталась на месте.",
    more_cards: "Ещё сделки",
    no_deals: "Здесь нет сделок.",
    back_to_board: "Вернуться ко всей доске",
    deal_one: "сделка",
    deal_few: "сделки",
    deal_many: "сделок",
    my_tasks: "Задачи на сегодня",
    no_tasks_today: "На сегодня задач нет.",
    overdue: "просрочена",
    call_back: "перезвонить",
    complete: "Готово",
    reschedule: "Перенести на",
    move_task: "Перенести",
    open_record: "Открыть",
    new_leads: "Ваши новые лиды",
    no_new_leads: "Новых лидов нет.",
    bad_due: "выберите дату и время",
    bad_task: "у задачи должно быть название (не длиннее 200 символов), дата и время",
    more_tasks: "Показаны первые 100: выполните или перенесите часть, чтобы увидеть остальные.",
    channel_telegram: "Telegram",
    channel_email: "почта",
    channel_web: "форма на сайте",
    channel_phone: "звонок",
    channel_manual: "добавлен вручную",
    kind_contact: "Контакт",
    kind_lead: "Лид",
    unassigned: "не назначен",
    you: "вы",
    lead_new: "новый",
    lead_working: "в работе",
    lead_qualified: "квалифицирован",
    lead_disqualified: "отклонён",
    lead_converted: "конвертирован",
    entry_call: "Звонок",
    entry_message: "Сообщение",
    entry_note: "Заметка",
    entry_form: "Форма",
    entry_system: "Событие",
    note_length: "в заметке должен быть текст, не длиннее 10 000 символов",
    company: "Компания",
    owner: "Ответственный",
    identities: "Телефоны, почта, чаты",
    tags: "Метки",
    open_tasks: "Открытые задачи",
    no_tasks: "Открытых задач нет.",
    open_deals: "Открытые сделки",
    timeline: "Лента",
    new_note: "Новая заметка",
    add_note: "Добавить заметку",
    more: "Более ранние записи",
    no_entries: "С этим клиентом пока ничего не происходило.",
    query_too_long: "поисковый запрос не длиннее 200 символов",
    nothing_found: "Ничего не найдено среди доступного вам.",
    leads: "Лиды",
    contacts: "Контакты",
    companies: "Компании",
    nav_inbox: "Входящие",
    inbox_title: "Входящие",
    inbox_views: "Какие разговоры",
    inbox_waiting: "Ждут ответа",
    inbox_mine: "Мои",
    inbox_unassigned: "Без ответственного",
    inbox_team: "Мои команды",
    inbox_all: "Все",
    inbox_empty: "Здесь нет разговоров.",
    inbox_pick: "Выберите разговор, чтобы прочитать его и ответить.",
    inbox_older: "Более ранние разговоры",
    inbox_waiting_badge: "ждёт",
    inbox_you_wrote: "Вы:",
    inbox_back: "Все разговоры",
    conversation_label: "Разговор",
    client_panel: "Клиент",
    unknown_client: "Клиент",
    take_client: "Взять клиента себе",
    reply_label: "Ваш ответ",
    reply_send: "Отправить",
    reply_empty: "Сначала напишите ответ (до 4000 знаков).",
    reply_failed: "Сообщение не отправлено.",
    reply_sent: "Отправлено.",
    reply_in: "Ответ уйдёт через",
    home_waiting: "Разговоры, которые ждут ответа",
    home_no_waiting: "Ответа никто не ждёт.",
    home_more_waiting: "Во входящих ждут ещё.",
    not_found_title: "Не найдено",
    not_found: "Здесь ничего нет или у вас нет доступа.",
    error_title: "Что-то пошло не так",
    back_home: "Вернуться в «Мой день»",
};

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let value = |v: &str| v.parse().expect("a header value");
        pairs
            .iter()
            .map(|(k, v)| (axum::http::HeaderName::from_static(k), value(v)))
            .collect()
    }

    #[test]
    fn the_browser_language_counts_unless_the_person_chose_one() {
        let of = |pairs: &[(&'static str, &str)]| Lang::of(&headers(pairs));
        assert_eq!(of(&[]), Lang::En);
        assert_eq!(
            of(&[("accept-language", "ru-RU,ru;q=0.9,en;q=0.8")]),
            Lang::Ru
        );
        assert_eq!(of(&[("accept-language", "de,en;q=0.5,ru;q=0.7")]), Lang::Ru);
        assert_eq!(of(&[("accept-language", "de-DE,fr")]), Lang::En);
        assert_eq!(of(&[("accept-language", "ru;q=0,en")]), Lang::En);
        let chose = [
            ("accept-language", "ru"),
            ("cookie", "a=b; ringside_lang=en"),
        ];
        assert_eq!(of(&chose), Lang::En);
        assert_eq!(of(&[("cookie", "ringside_lang=xx")]), Lang::En);
    }

    #[test]
    fn the_offset_comes_from_the_browser_within_bounds() {
        let of = |cookie: &str| utc_offset(&headers(&[("cookie", cookie)]));
        assert_eq!(of("ringside_utc_offset=180").whole_minutes(), 180);
        assert_eq!(of("a=1; ringside_utc_offset=-300").whole_minutes(), -300);
        assert_eq!(of("ringside_utc_offset=100000"), time::UtcOffset::UTC);
        assert_eq!(of("ringside_utc_offset=x"), time::UtcOffset::UTC);
    }

    #[test]
    fn russian_plurals_take_their_three_forms() {
        let form = |n| ru_plural(n, "звонок", "звонка", "звонков");
        let cases = [
            (1, "звонок"),
            (21, "звонок"),
            (2, "звонка"),
            (24, "звонка"),
            (0, "звонков"),
            (5, "звонков"),
            (11, "звонков"),
            (12, "звонков"),
            (111, "звонков"),
        ];
        for (n, want) in cases {
            assert_eq!(form(n), want, "{n}");
        }
    }
}
