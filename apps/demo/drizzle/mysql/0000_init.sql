CREATE TABLE `demo_email_audit` (
	`event_id` varchar(32) NOT NULL,
	`email` varchar(255) NOT NULL,
	`subject` varchar(255) NOT NULL,
	`recorded_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `demo_email_audit_event_id` PRIMARY KEY(`event_id`)
);
--> statement-breakpoint
CREATE TABLE `demo_users` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`email` varchar(255) NOT NULL,
	`name` varchar(255) NOT NULL,
	`credits` int NOT NULL DEFAULT 0,
	`welcome_credit_at` datetime(3),
	`created_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `demo_users_id` PRIMARY KEY(`id`),
	CONSTRAINT `demo_users_email_unique` UNIQUE(`email`)
);
