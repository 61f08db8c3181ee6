CREATE TABLE `bus_events_keys` (
	`handler_name` varbinary(600) NOT NULL,
	`unique_key` varbinary(800) NOT NULL,
	`live_id` bigint unsigned NOT NULL,
	`held_id` bigint unsigned,
	`expires_at` datetime(6),
	CONSTRAINT `keys_pk` PRIMARY KEY(`handler_name`,`unique_key`)
);
--> statement-breakpoint
CREATE TABLE `bus_events_schedules` (
	`name` varbinary(600) NOT NULL,
	`signature` text CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
	`paused` boolean NOT NULL DEFAULT false,
	`anchor_at` datetime(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
	`last_tick_at` datetime(6),
	`next_tick_at` datetime(6),
	CONSTRAINT `schedules_pk` PRIMARY KEY(`name`)
);
--> statement-breakpoint
CREATE INDEX `expires_at_idx` ON `bus_events_keys` (`expires_at`);