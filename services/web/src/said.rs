//! What a timeline entry says, in the person's language. Activities writes each
//! entry's one line in English for any reader (a log, an export); the page says it
//! again from the entry's own details — a call's direction and outcome, a form's
//! name, a system event and its attributes — and keeps activities' line only for
//! what it does not know.

use ringside_proto::activities::v1 as apb;

use crate::lang::{Tr, fill};

/// The entry's line in `t`'s language, when its details say enough.
pub fn summary(t: &'static Tr, entry: &apb::Entry) -> Option<String> {
    use apb::entry::Detail;
    match entry.detail.as_ref()? {
        Detail::Call(call) => Some(call_said(t, call)),
        Detail::Form(form) => Some(fill(t.said_form, &[&form.form])),
        Detail::System(system) => system_said(t, system),
        Detail::Message(_) => None,
    }
}

/// "Inbound call, answered at 101, 2 min 05 s", and what the agent said came of it
/// at the wrap-up (". Outcome: invoice by Friday").
fn call_said(t: &'static Tr, d: &apb::CallDetail) -> String {
    let direction = match apb::Direction::try_from(d.direction) {
        Ok(apb::Direction::Outbound) => t.said_call_out,
        Ok(apb::Direction::Internal) => t.said_call_internal,
        _ => t.said_call_in,
    };
    let rang = d.extensions.join(", ");
    let answered = match d.answered_extension.as_str() {
        "" => t.said_answered_any.to_owned(),
        at => fill(t.said_answered, &[at]),
    };
    let state = match apb::CallOutcome::try_from(d.outcome) {
        Ok(apb::CallOutcome::Answered) if d.ended_at.is_some() => {
            format!("{answered}, {}", duration(t, d.duration_ms))
        }
        Ok(apb::CallOutcome::Answered) => answered,
        // A call logged by hand rang no extension of ours.
        Ok(apb::CallOutcome::Missed) if rang.is_empty() => t.said_no_answer.to_owned(),
        Ok(apb::CallOutcome::Busy) if rang.is_empty() => t.said_busy_only.to_owned(),
        Ok(apb::CallOutcome::Rejected) if rang.is_empty() => t.said_rejected_only.to_owned(),
        Ok(apb::CallOutcome::Missed) => fill(t.said_missed, &[&rang]),
        Ok(apb::CallOutcome::Busy) => fill(t.said_busy, &[&rang]),
        Ok(apb::CallOutcome::Rejected) => fill(t.said_rejected, &[&rang]),
        Ok(apb::CallOutcome::Failed) => t.said_failed.to_owned(),
        _ if rang.is_empty() => t.said_ringing.to_owned(),
        _ => fill(t.said_ringing_at, &[&rang]),
    };
    match d.agent_outcome.trim() {
        "" => format!("{direction}, {state}"),
        came => format!("{direction}, {state}. {}: {came}", t.bar.outcome_label),
    }
}

/// A call's length: "1 h 02 min", "2 min 05 s", "45 s".
fn duration(t: &'static Tr, ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, sec) => format!("{sec} {}", t.seconds_short),
        (0, min, sec) => format!("{min} {} {sec:02} {}", t.minutes_short, t.seconds_short),
        (h, min, _) => format!("{h} {} {min:02} {}", t.hours_short, t.minutes_short),
    }
}

/// A system event's line, for the events the page knows.
fn system_said(t: &'static Tr, s: &apb::SystemDetail) -> Option<String> {
    let attr = |name: &str| s.attributes.get(name).map_or("", String::as_str);
    Some(match s.event.as_str() {
        "deal.stage_changed" => match attr("title") {
            "" => fill(t.said_moved, &[attr("from_stage"), attr("to_stage")]),
            title => fill(
                t.said_deal_moved,
                &[title, attr("from_stage"), attr("to_stage")],
            ),
        },
        "lead.converted" => t.said_converted.to_owned(),
        "contact.merged" => t.said_merged.to_owned(),
        "task.done" => fill(t.said_task_done, &[attr("title")]),
        "message.failed" => match crate::home::channel(t, Some(attr("channel"))) {
            "" => fill(t.said_not_delivered_any, &[attr("reason")]),
            channel => fill(t.said_not_delivered, &[channel, attr("reason")]),
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::{EN, RU};

    fn call(outcome: apb::CallOutcome, ended: bool) -> apb::Entry {
        let detail = apb::CallDetail {
            direction: apb::Direction::Inbound.into(),
            extensions: vec!["101".into(), "102".into()],
            answered_extension: "101".into(),
            ended_at: ended.then(prost_types::Timestamp::default),
            duration_ms: 125_000,
            outcome: outcome.into(),
            ..Default::default()
        };
        apb::Entry {
            detail: Some(apb::entry::Detail::Call(detail)),
            ..Default::default()
        }
    }

    #[test]
    fn a_call_is_said_in_each_language() {
        let answered = call(apb::CallOutcome::Answered, true);
        assert_eq!(
            summary(&EN, &answered).as_deref(),
            Some("Inbound call, answered at 101, 2 min 05 s")
        );
        assert_eq!(
            summary(&RU, &answered).as_deref(),
            Some("Входящий звонок, принят на номере 101, 2 мин 05 с")
        );
        let missed = call(apb::CallOutcome::Missed, true);
        assert_eq!(
            summary(&RU, &missed).as_deref(),
            Some("Входящий звонок, пропущен (звонок на 101, 102)")
        );
        let mut nobody = call(apb::CallOutcome::Answered, false);
        if let Some(apb::entry::Detail::Call(c)) = nobody.detail.as_mut() {
            c.answered_extension.clear();
        }
        assert_eq!(
            summary(&EN, &nobody).as_deref(),
            Some("Inbound call, answered")
        );
    }

    #[test]
    fn the_agents_outcome_follows_the_call() {
        let mut wrapped = call(apb::CallOutcome::Answered, true);
        if let Some(apb::entry::Detail::Call(c)) = wrapped.detail.as_mut() {
            c.agent_outcome = " Счёт до пятницы ".into();
        }
        assert_eq!(
            summary(&RU, &wrapped).as_deref(),
            Some("Входящий звонок, принят на номере 101, 2 мин 05 с. Итог: Счёт до пятницы")
        );
    }

    #[test]
    fn lengths_read_in_the_largest_units() {
        assert_eq!(duration(&EN, 45_000), "45 s");
        assert_eq!(duration(&EN, 3_725_000), "1 h 02 min");
        assert_eq!(duration(&RU, -5), "0 с");
    }

    #[test]
    fn a_stage_change_is_said_with_the_title_when_it_has_one_and_unknown_events_are_not() {
        let system = |event: &str, attributes: &[(&str, &str)]| apb::Entry {
            detail: Some(apb::entry::Detail::System(apb::SystemDetail {
                event: event.into(),
                attributes: (attributes.iter())
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            })),
            ..Default::default()
        };
        let moved = [("from_stage", "Звонок"), ("to_stage", "Показ")];
        assert_eq!(
            summary(&RU, &system("deal.stage_changed", &moved)).as_deref(),
            Some("Сделка перешла с этапа «Звонок» на «Показ»")
        );
        let titled = [moved[0], moved[1], ("title", "Станки")];
        assert_eq!(
            summary(&RU, &system("deal.stage_changed", &titled)).as_deref(),
            Some("Сделка «Станки» перешла с этапа «Звонок» на «Показ»")
        );
        assert_eq!(summary(&EN, &system("something.new", &[])), None);
        let failed = |channel| {
            system(
                "message.failed",
                &[("channel", channel), ("reason", "blocked")],
            )
        };
        assert_eq!(
            summary(&EN, &failed("telegram")).as_deref(),
            Some("Telegram message not delivered: blocked")
        );
        assert_eq!(
            summary(&EN, &failed("")).as_deref(),
            Some("Message not delivered: blocked"),
            "no empty channel in the line"
        );
        let message = apb::Entry {
            detail: Some(apb::entry::Detail::Message(Default::default())),
            ..Default::default()
        };
        assert_eq!(summary(&RU, &message), None, "a message is its own text");
    }
}
