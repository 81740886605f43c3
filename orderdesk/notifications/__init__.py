"""Customer notifications: the outbox of events, signed webhooks and e-mail, beneath every app.

The API the apps use (inside the transaction of the change that caused it):

    from orderdesk.notifications.outbox import event_record, events_record
    from orderdesk.notifications.emails import email_enqueue

This package imports no app (licensing, quotes, orders): what it needs of
them comes in as arguments (a customer id, a payload, dotted paths of
attachment renderers).
"""
