"""The single-table key schema: every `pk`/`sk` BankBridge writes is built here.

One table, generic `pk`/`sk`, one GSI (`gsi1pk`/`gsi1sk`) and a TTL attribute
(`expires_at`, epoch seconds). Item kinds and their keys:

| item                         | pk                                 | sk                          |
|------------------------------|------------------------------------|-----------------------------|
| processed inbound event      | `DEDUPE#<channel>#<event id>`      | `DEDUPE`                    |
| connector config             | `CONNECTOR#<institution id>`       | `CONFIG`                    |
| link (user x institution)    | `USER#<channel>#<user id>`         | `LINK#<institution id>`     |
| link token (single use)      | `LINKTOKEN#<sha256 of token>`      | `LINKTOKEN`                 |
| OAuth state (single use)     | `OAUTHSTATE#<sha256 of state>`     | `STATE`                     |
| client-credentials token     | `CONNECTOR#<institution id>`       | `CCTOKEN`                   |
| account reference of a link  | `USER#<channel>#<user id>`         | `ACCTREF#<inst>#<hmac>`     |
| processed bank event         | `BANKEVENT#<inst>#<event id>`      | `BANKEVENT`                 |
| pending question (fraud)     | `USER#<channel>#<user id>`         | `QUESTION#<reference>`      |
| chat profile (last inbound)  | `USER#<channel>#<user id>`         | `PROFILE`                   |
| consent expiry of a link     | `USER#<channel>#<user id>`         | `CONSENTEXP#<inst>`         |
| reply ledger (one send step) | `USER#<channel>#<user id>`         | `REPLY#<event ref>#<step>`  |
| pending link (awaiting code) | `USER#<channel>#<user id>`         | `PENDINGLINK`               |
| sealed reply address         | `USER#<channel>#<user id>`         | `ADDRESS`                   |
| private view (single use)    | `PRIVATEVIEW#<sha256 of token>`    | `VIEW`                      |
| private view's chat code     | `USER#<channel>#<user id>`         | `PRIVATEVIEWCODE`           |
| browser trusted for views    | `USER#<channel>#<user id>`         | `BROWSER#<sha256 of value>` |
| pseudonym key (sealed)       | `USER#<channel>#<user id>`         | `PSEUDONYMKEY`              |
| sent alert/reminder (2 days) | `USER#<channel>#<user id>`         | `SENT#<keyed message ref>`  |
| consent record (append-only) | `CONSENTREC#<pseudonym>`           | `<epoch ms>#<random>`       |
| step-up token (single use)   | `STEPUPTOKEN#<sha256 of token>`    | `STEPUPTOKEN`               |
| step-up sign-in state        | `STEPUPSTATE#<sha256 of state>`    | `STATE`                     |

GSI `gsi1`: connector listing (`CONNECTORS`), links by consent
(`CONSENT#<inst>#<consent id>`), account references (`ACCTREF#<inst>#<hmac>`, keyed
by the stage secret: see `chalicelib.store.account_reference`), consent expiries by
day (`CONSENTEXP#<yyyy-mm-dd>`), pending links by the day their confirmation is
due (`PENDINGLINK#<yyyy-mm-dd>`) and the single-use items that name a person, under
that person's partition name (`USER#<channel>#<user id>`, `owner_entry`).

TTL is best-effort in DynamoDB (deletion can lag by days), so readers still
check `expires_at` themselves.
"""

from __future__ import annotations

PK = "pk"
SK = "sk"
GSI1_NAME = "gsi1"
GSI1_PK = "gsi1pk"
GSI1_SK = "gsi1sk"
TTL_ATTRIBUTE = "expires_at"


def dedupe_key(channel: str, event_id: str) -> dict[str, str]:
    """Key of the marker that records an inbound event as already accepted."""
    return {PK: f"DEDUPE#{channel}#{event_id}", SK: "DEDUPE"}


def connector_key(institution_id: str) -> dict[str, str]:
    """Key of an institution's connector config."""
    return {PK: f"CONNECTOR#{institution_id}", SK: "CONFIG"}


CONNECTOR_LIST_GSI_PK = "CONNECTORS"
"""GSI partition holding every connector config, so listing them is a Query, not a Scan."""


def connector_list_entry(institution_id: str) -> dict[str, str]:
    """GSI attributes that put a connector config in the `CONNECTORS` listing, sorted by id."""
    return {GSI1_PK: CONNECTOR_LIST_GSI_PK, GSI1_SK: f"CONNECTOR#{institution_id}"}


def link_key(channel: str, user_id: str, institution_id: str) -> dict[str, str]:
    """Key of a person's link to one institution (tokens sealed inside)."""
    return {PK: user_partition(channel, user_id), SK: f"{LINK_PREFIX}{institution_id}"}


def user_partition(channel: str, user_id: str) -> str:
    """The partition holding everything about one chat user (links, pending questions)."""
    return f"USER#{channel}#{user_id}"


LINK_PREFIX = "LINK#"


def oauth_state_key(state_digest: str) -> dict[str, str]:
    """Key of one login attempt's state; the raw `state` is never stored, only its digest."""
    return {PK: f"OAUTHSTATE#{state_digest}", SK: "STATE"}


def link_token_key(token_digest: str) -> dict[str, str]:
    """Key of a chat-issued link token (single use, ten minutes)."""
    return {PK: f"LINKTOKEN#{token_digest}", SK: "LINKTOKEN"}


def step_up_token_key(token_digest: str) -> dict[str, str]:
    """Key of a chat-issued step-up token (single use, minutes): confirms one fraud answer."""
    return {PK: f"STEPUPTOKEN#{token_digest}", SK: "STEPUPTOKEN"}


def step_up_state_key(state_digest: str) -> dict[str, str]:
    """Key of one step-up sign-in's state; kept apart from linking's, so neither can finish
    the other."""
    return {PK: f"STEPUPSTATE#{state_digest}", SK: "STATE"}


def client_token_key(institution_id: str) -> dict[str, str]:
    """Key of the cached client-credentials token of an institution."""
    return {PK: f"CONNECTOR#{institution_id}", SK: "CCTOKEN"}


ACCOUNT_REF_PREFIX = "ACCTREF#"


def account_ref_key(
    channel: str, user_id: str, institution_id: str, reference: str
) -> dict[str, str]:
    """Key of the item saying "this user's link to this institution covers that account".

    It sits in the user's partition (deleted with their links) and is indexed on
    `gsi1` by the reference, so alert routing is a Query, never a Scan.
    """
    return {
        PK: user_partition(channel, user_id),
        SK: f"{ACCOUNT_REF_PREFIX}{institution_id}#{reference}",
        GSI1_PK: f"{ACCOUNT_REF_PREFIX}{institution_id}#{reference}",
        GSI1_SK: user_partition(channel, user_id),
    }


def bank_event_key(institution_id: str, event_id: str) -> dict[str, str]:
    """Key of the marker that records a bank event (FDX notificationId, UK `jti`) as accepted."""
    return {PK: f"BANKEVENT#{institution_id}#{event_id}", SK: "BANKEVENT"}


QUESTION_PREFIX = "QUESTION#"


def pending_question_key(channel: str, user_id: str, reference: str) -> dict[str, str]:
    """Key of a question put to a user (a fraud alert) awaiting their quick-reply answer.

    It lives in the user's partition, so an answer can only ever reach the
    sender's own questions, whatever reference a payload carries.
    """
    return {PK: user_partition(channel, user_id), SK: f"{QUESTION_PREFIX}{reference}"}


CHAT_PROFILE_SK = "PROFILE"


def chat_profile_key(channel: str, user_id: str) -> dict[str, str]:
    """Key of a user's small profile item (last inbound message time, for Meta's 24 h window)."""
    return {PK: user_partition(channel, user_id), SK: CHAT_PROFILE_SK}


LINKS_AND_PROFILE = (LINK_PREFIX, CHAT_PROFILE_SK)
"""Sort keys from a user's first link to their chat profile, inclusive: `LINK#<inst>` items,
then only `PENDINGLINK` and `PRIVATEVIEWCODE`, then `PROFILE` sort in it, so one Query of
this range reads the links and the profile together (the inbound worker's one read per message)."""


CONSENT_EXPIRY_PREFIX = "CONSENTEXP#"


def consent_expiry_key(
    channel: str, user_id: str, institution_id: str, expiry_day: str
) -> dict[str, str]:
    """Key of the item filing a link's consent expiry under its day (`yyyy-mm-dd`) on `gsi1`.

    The daily job Queries one GSI partition per day instead of Scanning links.
    """
    return {
        PK: user_partition(channel, user_id),
        SK: f"{CONSENT_EXPIRY_PREFIX}{institution_id}",
        GSI1_PK: f"{CONSENT_EXPIRY_PREFIX}{expiry_day}",
        GSI1_SK: f"{user_partition(channel, user_id)}#{institution_id}",
    }


REPLY_PREFIX = "REPLY#"


def reply_ledger_key(channel: str, user_id: str, event_ref: str, step: str) -> dict[str, str]:
    """Key of the record of one reply step (`ack`, `final`, ...) sent for one event to one user.

    It lives in the user's partition, so it goes with everything else about them.
    """
    return {PK: user_partition(channel, user_id), SK: f"{REPLY_PREFIX}{event_ref}#{step}"}


PENDING_LINK_GSI_PREFIX = "PENDINGLINK#"


def pending_link_key(channel: str, user_id: str) -> dict[str, str]:
    """Key of the one bank consent waiting for its chat user to type the code.

    One per chat user, in their partition: only that user's own messages can
    reach it, and a newer consent replaces (and revokes) an older one.
    """
    return {PK: user_partition(channel, user_id), SK: "PENDINGLINK"}


def pending_link_due_entry(channel: str, user_id: str, due_day: str, due_at: int) -> dict[str, str]:
    """GSI attributes filing a pending link under the day its code expires, oldest first.

    The sweep Queries a few day partitions instead of Scanning the table.
    """
    return {
        GSI1_PK: f"{PENDING_LINK_GSI_PREFIX}{due_day}",
        GSI1_SK: f"{due_at:012d}#{user_partition(channel, user_id)}",
    }


REPLY_ADDRESS_SK = "ADDRESS"


def reply_address_key(channel: str, user_id: str) -> dict[str, str]:
    """Key of the sealed address that reaches a user whose id is a pseudonym (WhatsApp).

    In the user's partition but outside `LINKS_AND_PROFILE` (`ADDRESS` sorts before
    `LINK#`): the inbound worker's one Query never reads it; only the channel adapter
    does, when it renders a send.
    """
    return {PK: user_partition(channel, user_id), SK: REPLY_ADDRESS_SK}


def owner_entry(channel: str, user_id: str, partition: str) -> dict[str, str]:
    """GSI attributes filing an item kept *outside* a person's partition under their name.

    Single-use items (link tokens, OAuth states, private views, step-up tokens) are keyed by
    a secret's digest but say whose they are; filed on `gsi1` under the person's partition
    name, erasure ("delete everything") finds them with one Query, never a Scan.
    """
    return {GSI1_PK: user_partition(channel, user_id), GSI1_SK: partition}


PSEUDONYM_KEY_SK = "PSEUDONYMKEY"


def pseudonym_key_key(channel: str, user_id: str) -> dict[str, str]:
    """Key of the sealed random key that names a person in their consent records.

    In the user's partition (erased with it) and outside `LINKS_AND_PROFILE`
    (`PSEUDONYMKEY` sorts after `PROFILE`), so the worker's one Query never reads it.
    """
    return {PK: user_partition(channel, user_id), SK: PSEUDONYM_KEY_SK}


def sent_message_key(channel: str, user_id: str, reference: str) -> dict[str, str]:
    """Key of an alert or reminder sent in the window on a channel that reports failures late.

    `reference` is the adapter's keyed reference of the platform's message id (a WhatsApp
    `wamid` embeds the number). In the user's partition (erased with it) and outside
    `LINKS_AND_PROFILE` (`SENT#` sorts after `PSEUDONYMKEY`).
    """
    return {PK: user_partition(channel, user_id), SK: f"SENT#{reference}"}


CONSENT_RECORD_PREFIX = "CONSENTREC#"


def consent_record_key(pseudonym: str, at_millis: int, nonce: str) -> dict[str, str]:
    """Key of one consent record: the person's pseudonym, then time order (newest last).

    The partition names no chat user: once the pseudonym key is destroyed, nothing
    leads from a person to these records or back.
    """
    return {PK: f"{CONSENT_RECORD_PREFIX}{pseudonym}", SK: f"{at_millis:013d}#{nonce}"}


def private_view_key(token_digest: str) -> dict[str, str]:
    """Key of a one-time private view (`chalicelib.privacy.private_view`); only the digest."""
    return {PK: f"PRIVATEVIEW#{token_digest}", SK: "VIEW"}


VIEW_CODE_SK = "PRIVATEVIEWCODE"


def view_code_key(channel: str, user_id: str) -> dict[str, str]:
    """Key of the code a browser without the view cookie waits for the person to type.

    Inside `LINKS_AND_PROFILE` (it sorts between `PENDINGLINK` and `PROFILE`), so the
    inbound worker's one Query tells whether a typed code may be for a private view.
    """
    return {PK: user_partition(channel, user_id), SK: VIEW_CODE_SK}


def trusted_browser_key(channel: str, user_id: str, browser_digest: str) -> dict[str, str]:
    """Key of a browser that may open the user's private views (digest of its cookie)."""
    return {PK: user_partition(channel, user_id), SK: f"BROWSER#{browser_digest}"}
