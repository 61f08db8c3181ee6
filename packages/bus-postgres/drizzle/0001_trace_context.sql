ALTER TABLE "bus_events" ADD COLUMN "trace_context" text;--> statement-breakpoint
ALTER TABLE "bus_events_archive" ADD COLUMN "trace_context" text;