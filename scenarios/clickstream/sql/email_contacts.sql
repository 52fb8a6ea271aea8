-- Each user's last sign-up or cart add, as the pipeline upserted it into the email
-- service's table (expected: the last such event per user in data/clicks.jsonl).
SELECT user_id, country, last_action, last_page, last_seen
FROM {ops}.email_contacts
ORDER BY user_id
