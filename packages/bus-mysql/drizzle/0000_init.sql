CREATE TABLE `bus_events` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`queue` varchar(100) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
	`event_name` varchar(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
	`handler_name` varchar(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
	`payload` longblob NOT NULL,
	`payload_json` json,
	`attempts` int NOT NULL DEFAULT 0,
	`max_retries` int NOT NULL,
	`priority` int NOT NULL DEFAULT 0,
	`scheduled_at` datetime(6) NOT NULL,
	`locked_until` datetime(6),
	`locked_by` varchar(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
	`last_error` text CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
	`created_at` datetime(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
	CONSTRAINT `bus_events_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
CREATE TABLE `bus_events_archive` (
	`id` bigint unsigned NOT NULL,
	`queue` varchar(100) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
	`event_name` varchar(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
	`handler_name` varchar(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
	`payload` longblob NOT NULL,
	`payload_json` json,
	`attempts` int NOT NULL,
	`max_retries` int NOT NULL,
	`priority` int NOT NULL,
	`status` enum('completed','failed') NOT NULL,
	`last_error` text CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
	`created_at` datetime(6) NOT NULL,
	`finished_at` datetime(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
	CONSTRAINT `bus_events_archive_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
CREATE INDEX `claim_idx` ON `bus_events` (`queue`,`locked_until`,`priority`,`scheduled_at`,`id`);--> statement-breakpoint
CREATE INDEX `locked_until_idx` ON `bus_events` (`locked_until`);--> statement-breakpoint
CREATE INDEX `finished_at_idx` ON `bus_events_archive` (`finished_at`);--> statement-breakpoint
CREATE INDEX `queue_status_idx` ON `bus_events_archive` (`queue`,`status`);