CREATE TABLE "bus_events_keys" (
	"handler_name" text NOT NULL,
	"unique_key" text NOT NULL,
	"event_id" bigint NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	CONSTRAINT "bus_events_keys_pkey" PRIMARY KEY("handler_name","unique_key")
);
--> statement-breakpoint
CREATE TABLE "bus_events_schedules" (
	"name" text PRIMARY KEY NOT NULL,
	"signature" text NOT NULL,
	"paused" boolean DEFAULT false NOT NULL,
	"anchor_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_tick_at" timestamp with time zone,
	"next_tick_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "bus_events" ADD COLUMN "unique_key" text;--> statement-breakpoint
CREATE INDEX "bus_events_keys_expires_idx" ON "bus_events_keys" USING btree ("expires_at");--> statement-breakpoint
CREATE UNIQUE INDEX "bus_events_unique_idx" ON "bus_events" USING btree ("handler_name","unique_key") WHERE unique_key IS NOT NULL;