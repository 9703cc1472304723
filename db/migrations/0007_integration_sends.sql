CREATE TABLE "integration_sends" (
	"tenant_id" text NOT NULL,
	"integration_id" text NOT NULL,
	"at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE INDEX "integration_sends_window" ON "integration_sends" USING btree ("tenant_id","integration_id","at");