-- Searching the event log by service and time.
CREATE INDEX events_by_service ON events (service, received_at);
