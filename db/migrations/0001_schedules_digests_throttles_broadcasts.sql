CREATE TABLE "broadcast_recipients" (
	"broadcast_id" text NOT NULL,
	"seq" integer NOT NULL,
	"recipient_id" text NOT NULL,
	CONSTRAINT "broadcast_recipients_broadcast_id_seq_pk" PRIMARY KEY("broadcast_id","seq")
);
--> statement-breakpoint
CREATE TABLE "broadcasts" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"template_key" text NOT NULL,
	"template_version" integer NOT NULL,
	"data" jsonb NOT NULL,
	"channels" jsonb,
	"category" text,
	"priority" text NOT NULL,
	"audience" text NOT NULL,
	"total" integer NOT NULL,
	"status" text NOT NULL,
	"workflow_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "throttle_claims" (
	"tenant_id" text NOT NULL,
	"recipient_id" text NOT NULL,
	"key" text NOT NULL,
	"notification_id" text NOT NULL,
	"claimed_at" timestamp with time zone NOT NULL,
	CONSTRAINT "throttle_claims_tenant_id_recipient_id_key_notification_id_pk" PRIMARY KEY("tenant_id","recipient_id","key","notification_id")
);
--> statement-breakpoint
ALTER TABLE "notifications" ADD COLUMN "broadcast_id" text;--> statement-breakpoint
ALTER TABLE "broadcast_recipients" ADD CONSTRAINT "broadcast_recipients_broadcast_id_broadcasts_id_fk" FOREIGN KEY ("broadcast_id") REFERENCES "public"."broadcasts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "broadcasts" ADD CONSTRAINT "broadcasts_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "broadcasts_tenant_created_idx" ON "broadcasts" USING btree ("tenant_id","created_at");--> statement-breakpoint
CREATE INDEX "throttle_claims_window_idx" ON "throttle_claims" USING btree ("tenant_id","recipient_id","key","claimed_at");--> statement-breakpoint
CREATE INDEX "notifications_broadcast_idx" ON "notifications" USING btree ("broadcast_id","status");